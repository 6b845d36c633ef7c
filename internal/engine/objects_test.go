package engine

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestObjects(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir)
	ctx := ctxT(t)
	o, err := e.Objects(ctx, ObjectsConfig{Name: "recordings"})
	if err != nil {
		t.Fatal(err)
	}
	// Larger than one chunk (128 KiB), not a multiple of it.
	data := make([]byte, 300*1024+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	in, err := o.Put(ctx, "session-1.cast", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "session-1.cast" || in.Size != uint64(len(data)) || in.Digest == "" || in.Modified.IsZero() {
		t.Errorf("Put info = %+v", in)
	}
	rc, gin, err := o.Get(ctx, "session-1.cast")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get read %d bytes (%v), equal %v; want the %d put", len(got), err, bytes.Equal(got, data), len(data))
	}
	if gin.Size != in.Size || gin.Digest != in.Digest {
		t.Errorf("Get info %+v, Put info %+v", gin, in)
	}
	if _, err := o.Put(ctx, "empty", bytes.NewReader(nil)); err != nil {
		t.Errorf("Put of an empty object: %v", err)
	}
	list, err := o.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("List = %+v, %v; want two objects", list, err)
	}
	if err := o.Delete(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Stat(ctx, "empty"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if _, _, err := o.Get(ctx, "never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing object = %v, want ErrNotFound", err)
	}
	if st, err := o.Stat(ctx, "session-1.cast"); err != nil || st.Size != in.Size {
		t.Errorf("Stat = %+v, %v", st, err)
	}
}
