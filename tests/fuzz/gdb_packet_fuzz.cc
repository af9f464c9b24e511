// libFuzzer: a hostile gdb client. Every input is used three ways:
//  1. raw bytes through the packet decoder, in chunks of 1 to 64 bytes (the
//     first input byte picks the size): events must stay within the caps;
//  2. the same raw bytes through a Session over a FakeGdbTarget, as a
//     socket would deliver them (few inputs get a checksum right, but acks,
//     Ctrl-C, noise and framing errors get exercised);
//  3. the input split at '\n' into payloads, each framed with a correct
//     checksum, so the commands themselves get fuzzed; a guest left running
//     is interrupted, as a user's Ctrl-C would.
// Beyond ASan/UBSan it aborts on output growing without bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/fake_gdb_target.h"
#include "vmm/gdb/packet.h"
#include "vmm/gdb/session.h"

namespace {

using vmrun::gdb::kMaxPacketSize;
using vmrun::gdb::PacketDecoder;
using vmrun::gdb::Session;

// One chunk of client bytes makes at most this much output: each byte
// makes at most one reply (the largest a 'm' or 'g' packet) or one resend.
constexpr size_t kMaxOutputPerChunk = 64 * (kMaxPacketSize + 16);

void check(bool ok) {
  if (!ok) std::abort();
}

void pump(Session& s, vmrun::test_support::FakeGdbTarget& target,
          std::span<const uint8_t> bytes) {
  s.input(bytes);
  if (s.waiting_for_stop() && target.pending) s.target_stopped();
  check(s.take_output().size() <= kMaxOutputPerChunk);
}

void decoder_alone(std::span<const uint8_t> in, size_t chunk) {
  PacketDecoder d;
  std::vector<PacketDecoder::Event> events;
  for (size_t i = 0; i < in.size(); i += chunk) {
    events.clear();
    d.feed(in.subspan(i, std::min(chunk, in.size() - i)), events);
    for (const auto& e : events) check(e.data.size() <= kMaxPacketSize);
  }
}

void session_raw(std::span<const uint8_t> in, size_t chunk) {
  vmrun::test_support::FakeGdbTarget target(2);
  Session s(target);
  s.start();
  s.target_stopped();
  for (size_t i = 0; i < in.size() && !s.ended(); i += chunk)
    pump(s, target, in.subspan(i, std::min(chunk, in.size() - i)));
  s.finish(s.ended().value_or(Session::End::kDisconnected));
}

void session_framed(std::string_view in) {
  vmrun::test_support::FakeGdbTarget target(3);
  Session s(target);
  s.start();
  s.target_stopped();
  static constexpr uint8_t kCtrlC = 0x03;
  while (!in.empty() && !s.ended()) {
    size_t nl = in.find('\n');
    std::string packet = vmrun::gdb::encode_packet(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    pump(s, target,
         {reinterpret_cast<const uint8_t*>(packet.data()), packet.size()});
    if (s.waiting_for_stop()) pump(s, target, {&kCtrlC, 1});
    check(!s.waiting_for_stop() || s.ended());
  }
  s.finish(s.ended().value_or(Session::End::kDisconnected));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 64;
  std::span<const uint8_t> in(data + 1, size - 1);
  decoder_alone(in, chunk);
  session_raw(in, chunk);
  session_framed({reinterpret_cast<const char*>(in.data()), in.size()});
  return 0;
}
