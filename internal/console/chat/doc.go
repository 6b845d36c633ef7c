// Package chat is the console's chat: rooms of messages and presence
// events (joins, leaves, nickname changes) kept in the engine, so that
// every console node on one engine serves the same rooms, and a restart
// loses nothing acknowledged.
//
// Where the state lives:
//
//   - Messages are entries of the stream "chat", one subject per room
//     (chat.room.NAME). A message's seq is its stream sequence. The stream
//     keeps Options.History messages per room, Options.HistoryBytes in all
//     and none older than Options.HistoryAge; the oldest go first. A page
//     gives each message an id, published as the entry's message id, so
//     that a resend after a reconnect is stored once.
//   - Presence events are entries of a second stream, "chat-presence"
//     (chat.presence.NAME), with a sequence of their own and their own
//     bound, Options.PresenceHistory per room: members coming and going
//     never push messages out.
//   - Rooms are keys of the bucket "chat-rooms"; each creation is also
//     announced on chat.rooms (in the presence stream), so that pages on
//     every node learn of it live.
//
// A node holds one engine subscription per room that has members on it,
// through package topic, which encodes each entry once for all of the
// node's sockets. A member joins one room, with what it has seen (since,
// psince and epoch, from its last welcome), and gets in its welcome every
// event it missed that is still kept; the epoch names the streams'
// creation, so a page holding sequences of streams made anew starts over.
//
// Names: in team mode a member is named by the login the server knows
// (auth.IdentityFrom: the user's name, cut to MaxNickRunes, control and
// format characters left out); the nick of the handshake is ignored and a
// nick message refused, so no page can make the chat show another name.
// In token mode, the one person of the console is free to pick any
// nickname, as before team mode: there is no one else to pass for.
//
// The wire protocol is in docs/protocol.md.
package chat
