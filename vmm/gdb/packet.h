// GDB Remote Serial Protocol framing: "$data#cs" packets with a mod-256
// checksum of the bytes between '$' and '#', '}' escapes (the byte xor 0x20)
// for '#', '$', '}' and '*', run-length encoding ("X*n": n - 29 more copies
// of X), the '+'/'-' acknowledgements and the out-of-band Ctrl-C (0x03).
// Everything the client sends is hostile: the decoder holds at most
// kMaxPacketSize bytes, whatever it is fed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vmrun::gdb {

// The most data (between '$' and '#', and again once decoded) a packet from
// the client may carry; advertised to gdb as PacketSize, so it splits its
// memory writes to fit.
inline constexpr size_t kMaxPacketSize = 0x10000;

uint8_t checksum(std::string_view raw);

// "$payload#cs" with '#', '$', '}' and '*' escaped. Escaping is what binary
// replies (qXfer) need; other replies are hex or plain ASCII that never hold
// those bytes, so it changes nothing for them.
std::string encode_packet(std::string_view payload);

class PacketDecoder {
 public:
  struct Event {
    enum class Kind {
      kPacket,     // data: the decoded payload
      kBad,        // bad checksum, too long or malformed: data says which
      kAck,        // '+'
      kNack,       // '-': resend the last packet
      kInterrupt,  // 0x03 between packets
    };
    Kind kind;
    std::string data;
  };

  // Consumes every byte; appends what completed to `out`. A packet may be
  // split across any number of calls.
  void feed(std::span<const uint8_t> bytes, std::vector<Event>& out);

 private:
  enum class State { kIdle, kData, kSum1, kSum2 };
  void finish(std::vector<Event>& out);

  State state_ = State::kIdle;
  std::string raw_;
  bool overflow_ = false;
  uint8_t sum_ = 0;
  int sum_hi_ = 0;
  uint8_t got_sum_ = 0;
  bool sum_bad_hex_ = false;
};

// Un-escapes and expands run-length encoding; nullopt if malformed or longer
// than kMaxPacketSize once expanded.
std::optional<std::string> decode_payload(std::string_view raw);

// Hex helpers (lower case out, either case in).
int hex_digit(char c);  // -1 if not a hex digit
std::string to_hex(std::span<const uint8_t> bytes);
std::string to_hex(std::string_view text);
// Exactly 2 * out.size() hex digits into out; false otherwise.
bool from_hex(std::string_view hex, std::span<uint8_t> out);
// Hex digits and nothing else, at most 64 bits' worth (leading zeros aside).
std::optional<uint64_t> parse_hex(std::string_view hex);
// A number as gdb writes thread ids and addresses: "1a2b", no leading zeros.
std::string hex_u64(uint64_t value);

}  // namespace vmrun::gdb
