// Package audit is the console's audit log: a record of every Exec job's
// start and end (and, later, every login), kept in one place.
//
// The log is a stream of the engine, AUDIT, on subjects audit.<kind>
// (audit.jobs now). The stream refuses deletes and purges (DenyDelete,
// DenyPurge) and keeps its entries for Options.MaxAge (forever by
// default). Log.Write returns once the stream has stored the record on a
// quorum of its replicas: a job whose start record is not stored does not
// run.
//
// The records carry no hash chain in the stream: several console nodes
// append to it at once, and a chain would make every append a
// compare-and-set on the stream's last entry, serializing the nodes. The
// stream's own sequence numbers the records instead, and since nothing
// can be deleted through the engine's API, a gap in it is a sign of
// tampering with the servers' files. A File is an optional export: a
// copy of every record this node writes, as JSON lines chained by SHA-256
// (wsdeck serve --audit-log), which VerifyFile checks (wsdeck audit verify).
package audit
