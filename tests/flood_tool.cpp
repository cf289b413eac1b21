// quilt_flood: sends messages to a node as fast as libzmq takes them, from
// several DEALERs at once, for the flood test (tests/integration/
// test_flood.py). Blocking sends: when the node stops reading, libzmq's
// high-water mark stops the senders instead of dropping, which is the push
// back the test checks.
//
//   quilt_flood ENDPOINT DESTINATION COUNT [SENDERS] [PAYLOAD_BYTES]
//
// Prints one JSON line: {"sent":N,"seconds":S,"rate":R}.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

namespace {

void send_all(void* ctx, const char* endpoint, const std::string& dest,
              long count, int sender, size_t payload_bytes) {
  void* s = zmq_socket(ctx, ZMQ_DEALER);
  int linger = -1; // close only once the node took everything
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
  zmq_connect(s, endpoint);
  std::string origin = "flood" + std::to_string(sender);
  std::string payload(payload_bytes, 'x');
  std::string ttl = "8";
  std::string cmd = "msg";
  for (long i = 0; i < count; ++i) {
    auto id = std::to_string(1 + i);
    zmq_send(s, dest.data(), dest.size(), ZMQ_SNDMORE);
    zmq_send(s, cmd.data(), cmd.size(), ZMQ_SNDMORE);
    zmq_send(s, origin.data(), origin.size(), ZMQ_SNDMORE);
    zmq_send(s, id.data(), id.size(), ZMQ_SNDMORE);
    zmq_send(s, ttl.data(), ttl.size(), ZMQ_SNDMORE);
    zmq_send(s, payload.data(), payload.size(), 0);
  }
  zmq_close(s);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quilt_flood ENDPOINT DESTINATION COUNT "
                         "[SENDERS] [PAYLOAD_BYTES]\n");
    return 2;
  }
  const char* endpoint = argv[1];
  std::string dest = argv[2];
  long count = std::atol(argv[3]);
  int senders = argc > 4 ? std::atoi(argv[4]) : 4;
  size_t payload = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 16;
  if (count <= 0 || senders <= 0) {
    std::fprintf(stderr, "quilt_flood: COUNT and SENDERS must be positive\n");
    return 2;
  }
  void* ctx = zmq_ctx_new();
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  long each = count / senders;
  for (int i = 0; i < senders; ++i) {
    long n = i + 1 == senders ? count - each * (senders - 1) : each;
    threads.emplace_back(send_all, ctx, endpoint, dest, n, i, payload);
  }
  for (auto& t : threads)
    t.join();
  zmq_ctx_term(ctx); // waits (LINGER) for what is still queued
  double seconds = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  std::printf("{\"sent\":%ld,\"seconds\":%.3f,\"rate\":%.0f}\n", count,
              seconds, count / seconds);
  return 0;
}
