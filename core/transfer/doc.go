// Package transfer implements the application layer of magic-wormhole's
// file-transfer protocol v1 (appid "lothar.com/wormhole/text-or-file-xfer"):
// the JSON app messages, the zip stream used to send a directory, safe
// extraction of a received zip, and the final transit ack. It does no network
// IO, starts no goroutines and reads no clock; it only works on byte slices
// and io streams, so it runs natively and under GOOS=js.
//
// # App messages
//
// After key confirmation each side sends JSON objects in numbered mailbox
// phases "0", "1", ... (core/client encrypts them). Every object has exactly
// one key, modelled by [Message]:
//
//	text:  sender   {"offer": {"message": "hi"}}
//	       receiver {"answer": {"message_ack": "ok"}}
//	file:  sender   {"transit": {...}}  then  {"offer": {"file": {"filename": "f.bin", "filesize": 100}}}
//	       receiver {"transit": {...}}  then  {"answer": {"file_ack": "ok"}}
//	dir:   sender   {"offer": {"directory": {"mode": "zipfile/deflated", "dirname": "d",
//	                 "zipsize": 1234, "numbytes": 1000, "numfiles": 3}}}
//	abort: either   {"error": "transfer rejected"}
//
// [ParseMessage] checks the shape strictly (types, required fields, one key)
// but ignores unknown keys. An offer of an unknown kind yields
// [ErrUnknownOffer] and a directory mode not starting with "zipfile" yields
// [ErrUnknownMode]; a receiver answers those with [ErrorMessage] carrying
// [ReplyText] of the error, as the Python CLI does. A peer's {"error": ...}
// becomes a [PeerError] via [Message.Err]; errors.Is(err, [ErrRejected])
// reports the user saying no.
//
// # Sending a directory
//
// The offer must state the exact zip size before the first byte is sent, and
// the sender must not need a temporary copy of the tree. [NewZipPlan] lays
// the zip out from file names and sizes alone: stored (uncompressed) entries
// with the UTF-8 flag, Unix modes in the external attributes (the Python
// receiver chmods every extracted path to external_attr>>16), a data
// descriptor after each file because the CRC-32 is only known once the file
// has been read, and Zip64 records exactly where archive/zip emits them
// (entries >= 4 GiB - 1, offsets past 4 GiB, >= 65535 entries). [ZipPlan.Size]
// is the zipsize of the offer; [ZipPlan.WriteTo] then streams the same bytes
// with one bounded buffer, computing CRCs on the fly, and fails with
// [ErrFileChanged] if a file no longer has the size it was planned with.
// It writes the records itself, the bytes archive/zip's Writer would write,
// which the browser build cannot afford (its init brings in fmt).
// Directory entries are only written for empty directories: wormhole-william
// receivers turn every entry into a regular file and compare numfiles and
// numbytes with the entry count and size sum, which [ZipPlan.NumFiles] and
// [ZipPlan.NumBytes] therefore match. [DirEntries] walks an fs.FS (os.DirFS
// for a local directory) and reports symlinks and special files it leaves out.
//
// The mode string stays "zipfile/deflated" although the entries are stored:
// magic-wormhole >= 0.14 does the same, and receivers read any standard zip.
//
// # Receiving
//
// A single-file offer names the file; [SafeFilename] keeps only a harmless
// base name. A directory arrives as a zip of zipsize bytes (deflated with
// Zip64 from Python 0.12, stored from >= 0.14 and from us) which the caller
// stores and passes to [Extract] as an io.ReaderAt. [CheckZip] checks every
// entry before anything is written, for Extract and for the browser's
// unpacker alike: names through [SafeName]; no duplicates, no two names that
// differ only in case or Unicode normalisation ([ErrNameCollision]: a
// Windows or macOS folder would let the second replace the first), no file
// that is also a directory, no special files; [Limits] against zip bombs.
// Extract then refuses symlinks whose target could leave the destination,
// unpacks into a fresh temporary directory next to the destination and
// renames it into place only when everything succeeded.
//
// # The final ack
//
// After the receiver has read exactly filesize (or zipsize) bytes from the
// transit connection it sends one encrypted record {"ack": "ok", "sha256":
// "<hex>"} ([Ack]). The digest is computed while streaming, never by reading
// the data twice:
//
//	// sender
//	h := sha256.New()
//	_, err := plan.WriteTo(io.MultiWriter(records, h))   // or io.Copy for a file
//	ack, err := transfer.ParseAck(lastRecord)
//	err = ack.Verify(h.Sum(nil))
//
//	// receiver
//	h := sha256.New()
//	_, err := io.Copy(dst, io.TeeReader(io.LimitReader(records, size), h))
//	rec, err := transfer.NewAck(h.Sum(nil)).Encode()
//
// [Ack.Verify] accepts an ack without sha256 (older peers) and rejects any
// ack text other than "ok".
package transfer
