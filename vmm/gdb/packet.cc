#include "vmm/gdb/packet.h"

namespace vmrun::gdb {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

bool needs_escape(char c) {
  return c == '#' || c == '$' || c == '}' || c == '*';
}

}  // namespace

uint8_t checksum(std::string_view raw) {
  uint8_t sum = 0;
  for (char c : raw) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
  return sum;
}

std::string encode_packet(std::string_view payload) {
  std::string body;
  body.reserve(payload.size() + 8);
  for (char c : payload) {
    if (needs_escape(c)) {
      body.push_back('}');
      body.push_back(static_cast<char>(c ^ 0x20));
    } else {
      body.push_back(c);
    }
  }
  uint8_t sum = checksum(body);
  std::string out;
  out.reserve(body.size() + 4);
  out.push_back('$');
  out += body;
  out.push_back('#');
  out.push_back(kDigits[sum >> 4]);
  out.push_back(kDigits[sum & 0xf]);
  return out;
}

void PacketDecoder::feed(std::span<const uint8_t> bytes,
                         std::vector<Event>& out) {
  for (uint8_t b : bytes) {
    char c = static_cast<char>(b);
    switch (state_) {
      case State::kIdle:
        if (c == '$') {
          raw_.clear();
          overflow_ = false;
          sum_ = 0;
          state_ = State::kData;
        } else if (c == '+') {
          out.push_back({Event::Kind::kAck, {}});
        } else if (c == '-') {
          out.push_back({Event::Kind::kNack, {}});
        } else if (b == 0x03) {
          out.push_back({Event::Kind::kInterrupt, {}});
        }
        // Anything else between packets is line noise.
        break;
      case State::kData:
        if (c == '$') {
          // A new packet inside an old one: the old one was cut short, as
          // when gdb retransmits after a lost byte. Start over.
          raw_.clear();
          overflow_ = false;
          sum_ = 0;
        } else if (c == '#') {
          state_ = State::kSum1;
        } else {
          sum_ = static_cast<uint8_t>(sum_ + b);
          if (raw_.size() < kMaxPacketSize) {
            raw_.push_back(c);
          } else {
            overflow_ = true;
          }
        }
        break;
      case State::kSum1:
        sum_hi_ = hex_digit(c);
        state_ = State::kSum2;
        break;
      case State::kSum2: {
        int lo = hex_digit(c);
        sum_bad_hex_ = sum_hi_ < 0 || lo < 0;
        got_sum_ = static_cast<uint8_t>((sum_hi_ < 0 ? 0 : sum_hi_) << 4 |
                                        (lo < 0 ? 0 : lo));
        finish(out);
        break;
      }
    }
  }
}

void PacketDecoder::finish(std::vector<Event>& out) {
  state_ = State::kIdle;
  if (sum_bad_hex_) {
    out.push_back({Event::Kind::kBad, "checksum is not hex"});
  } else if (overflow_) {
    out.push_back({Event::Kind::kBad, "packet too long"});
  } else if (got_sum_ != sum_) {
    out.push_back({Event::Kind::kBad, "bad checksum"});
  } else if (auto data = decode_payload(raw_)) {
    out.push_back({Event::Kind::kPacket, std::move(*data)});
  } else {
    out.push_back({Event::Kind::kBad, "malformed escape or run length"});
  }
  raw_.clear();
  overflow_ = false;
}

std::optional<std::string> decode_payload(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() < kMaxPacketSize ? raw.size() : kMaxPacketSize);
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '}') {
      if (i + 1 >= raw.size()) return std::nullopt;
      out.push_back(static_cast<char>(raw[++i] ^ 0x20));
    } else if (c == '*') {
      if (out.empty() || i + 1 >= raw.size()) return std::nullopt;
      int n = static_cast<uint8_t>(raw[++i]);
      // gdb writes counts as n + 29 in printable ASCII.
      if (n < 29 || n > 126) return std::nullopt;
      size_t count = static_cast<size_t>(n - 29);
      if (out.size() + count > kMaxPacketSize) return std::nullopt;
      out.append(count, out.back());
    } else {
      out.push_back(c);
    }
    if (out.size() > kMaxPacketSize) return std::nullopt;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string to_hex(std::string_view text) {
  return to_hex(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

bool from_hex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::optional<uint64_t> parse_hex(std::string_view hex) {
  if (hex.empty()) return std::nullopt;
  // Leading zeros are harmless (some clients pad addresses); what is left
  // must fit 64 bits.
  while (hex.size() > 1 && hex[0] == '0') hex.remove_prefix(1);
  if (hex.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : hex) {
    int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

std::string hex_u64(uint64_t value) {
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  return out;
}

}  // namespace vmrun::gdb
