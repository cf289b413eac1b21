#include "quilt/zmq_transport.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <zmq.h>

#include "quilt/log.hpp"
#include "quilt/packed.hpp"
#include "quilt/time.hpp"

namespace quilt {

namespace {


/// Messages read from one socket before the reactor turns to the others.
constexpr int read_budget = 512;

/// Most frames a message may have on the wire (SPEC §4), plus routing id and
/// delimiter; a longer message is still read whole, but only counted.
constexpr size_t max_frames = 66;

/// A new socket's options, set in a row. libzmq refuses an option it does
/// not know or a value out of range: the first refusal is kept, and the
/// caller gives the socket up with an error that names it, rather than run
/// a socket without, say, its CURVE keys or its size limit.
class socket_options {
public:
  explicit socket_options(void* socket) : socket_(socket) {}

  void set(int option, const void* value, size_t size, const char* name) {
    if (failed_ == nullptr && zmq_setsockopt(socket_, option, value, size) != 0) {
      failed_ = name;
      error_ = zmq_errno();
    }
  }
  void set(int option, const std::string& value, const char* name) {
    set(option, value.data(), value.size(), name);
  }
  void set_int(int option, int value, const char* name) {
    set(option, &value, sizeof(value), name);
  }

  bool ok() const { return failed_ == nullptr; }
  std::string error() const {
    return std::string{"cannot set "} + failed_ + ": " + zmq_strerror(error_);
  }

private:
  void* socket_;
  const char* failed_ = nullptr;
  int error_ = 0;
};

/// ZMTP heartbeats: a PING every `ivl_ms`; no traffic for `timeout_ms`
/// closes the connection here, and asks the other end (TTL) to do the same.
void set_heartbeats(socket_options& o, uint32_t ivl_ms, uint32_t timeout_ms) {
  if (ivl_ms == 0 || timeout_ms == 0)
    return;
  // libzmq sends the TTL in deciseconds, 16 bits wide.
  auto ttl = std::min<uint32_t>(timeout_ms, 6553599);
  o.set_int(ZMQ_HEARTBEAT_IVL, static_cast<int>(ivl_ms), "ZMQ_HEARTBEAT_IVL");
  o.set_int(ZMQ_HEARTBEAT_TIMEOUT, static_cast<int>(timeout_ms),
            "ZMQ_HEARTBEAT_TIMEOUT");
  o.set_int(ZMQ_HEARTBEAT_TTL, static_cast<int>(ttl), "ZMQ_HEARTBEAT_TTL");
}

/// What an outgoing link's monitor reports: whether the connection is
/// established, and whether its handshakes fail (SPEC §12).
constexpr int dealer_events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                              | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                              | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                              | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                              | ZMQ_EVENT_DISCONNECTED;

/// Handshakes that fail in a row before a CURVE link counts as
/// auth_failed. libzmq 4.3.4 reports a wrong server key on the client side
/// only as HANDSHAKE_FAILED_NO_DETAIL (the server hangs up on a HELLO it
/// cannot decrypt), exactly as it reports a listener that dies in the
/// middle of a handshake; the second failure in a row, about 150 ms later
/// (libzmq redials at once after a handshake), tells them apart.
constexpr int auth_failures_in_a_row = 2;

/// A socket monitor reporting `events` of `s` on a PAIR connected to it,
/// or null (then the caller goes without, and says so).
void* monitor_socket(void* ctx, void* s, const std::string& at, int events) {
  if (zmq_socket_monitor(s, at.c_str(), events) != 0)
    return nullptr;
  void* m = zmq_socket(ctx, ZMQ_PAIR);
  if (m && zmq_connect(m, at.c_str()) != 0) {
    zmq_close(m);
    m = nullptr;
  }
  return m;
}

/// An outgoing link's DEALER and, on tcp, the monitor of its connection.
struct dealer_sockets {
  void* dealer = nullptr;
  void* monitor = nullptr;
  uint64_t monitor_id = 0;
};

bool is_tcp(const std::string& endpoint) {
  return endpoint.rfind("tcp://", 0) == 0;
}

/// A DEALER for an outgoing link, connected to `endpoint`; null when libzmq
/// has no socket to give (the reactor tries again later). A tcp DEALER
/// gets a monitor at `inproc://quilt.monitor.<monitor_id>` (one inproc PAIR
/// each way: two eventfds, no network descriptor), made before it
/// connects so that no event is missed.
dealer_sockets make_dealer(void* ctx, const std::string& endpoint,
                           const dial_options& opts, uint64_t monitor_id) {
  dealer_sockets result;
  void* s = zmq_socket(ctx, ZMQ_DEALER);
  if (!s) {
    QUILT_ERROR("zmq", "cannot create a socket for " << endpoint << ": "
                                                    << zmq_strerror(zmq_errno()));
    return result;
  }
  socket_options o{s};
  o.set(ZMQ_ROUTING_ID, opts.identity, "ZMQ_ROUTING_ID");
  // Queue in our bounded queue, not in libzmq.
  o.set_int(ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE");
  o.set_int(ZMQ_LINGER, 0, "ZMQ_LINGER");
  o.set_int(ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM");
  o.set_int(ZMQ_RECONNECT_IVL_MAX, 5000, "ZMQ_RECONNECT_IVL_MAX");
  // After a network outage a connection must be given up and redialled
  // within ZeroMQ's back-off, not when TCP's doubling retransmission timer
  // next fires (up to two minutes): data unacknowledged for 2 s drops the
  // connection (TCP_USER_TIMEOUT), and so does a connect with no answer.
  o.set_int(ZMQ_TCP_MAXRT, 2000, "ZMQ_TCP_MAXRT");
  o.set_int(ZMQ_CONNECT_TIMEOUT, 2000, "ZMQ_CONNECT_TIMEOUT");
  if (is_tcp(endpoint)) {
    o.set_int(ZMQ_IPV6, 1, "ZMQ_IPV6");
    set_heartbeats(o, opts.heartbeat_ivl_ms, opts.heartbeat_timeout_ms);
  }
  if (!opts.curve_server_key.empty()) {
    o.set(ZMQ_CURVE_SERVERKEY, opts.curve_server_key, "ZMQ_CURVE_SERVERKEY");
    o.set(ZMQ_CURVE_PUBLICKEY, opts.curve_public_key, "ZMQ_CURVE_PUBLICKEY");
    o.set(ZMQ_CURVE_SECRETKEY, opts.curve_secret_key, "ZMQ_CURVE_SECRETKEY");
  }
  if (!o.ok()) {
    QUILT_ERROR("zmq", "cannot dial " << endpoint << ": " << o.error());
    zmq_close(s);
    return result;
  }
  result.dealer = s;
  if (is_tcp(endpoint)) {
    auto at = "inproc://quilt.monitor." + std::to_string(monitor_id);
    result.monitor = monitor_socket(ctx, s, at, dealer_events);
    if (result.monitor)
      result.monitor_id = monitor_id;
    else
      QUILT_WARN("zmq", "no connection monitor for " << endpoint << ": "
                          << zmq_strerror(zmq_errno())
                          << "; its link shows as connecting for ever");
  }
  if (zmq_connect(s, endpoint.c_str()) != 0)
    QUILT_WARN("zmq", "cannot connect to " << endpoint << ": "
                                          << zmq_strerror(zmq_errno()));
  return result;
}

/// ZeroMQ's fixed endpoint for its authentication handler (RFC 27).
constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";

/// The ZAP domain of listener `id`: how a request names its listener.
std::string zap_domain(uint64_t id) {
  return "quilt." + std::to_string(id);
}

/// Binary form of Z85 CURVE keys, as ZAP requests carry them.
std::unordered_set<std::string> binary_keys(const std::vector<std::string>& z85) {
  std::unordered_set<std::string> result;
  for (const auto& k : z85) {
    if (!is_curve_key(k))
      continue;
    uint8_t out[32] = {};
    if (zmq_z85_decode(out, k.c_str()) != nullptr)
      result.emplace(reinterpret_cast<const char*>(out), sizeof(out));
  }
  return result;
}

/// The connection a message came on, for the dial policy (SPEC §10) and
/// the key check (SPEC §12).
connection_info_ptr connection_of(zmq_msg_t* part, bool inproc) {
  auto info = std::make_shared<connection_info>();
  info->in_process = inproc;
  if (const char* a = zmq_msg_gets(part, "Peer-Address")) {
    info->address = a;
    // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
    if (info->address.rfind("::ffff:", 0) == 0
        && info->address.find('.') != std::string::npos)
      info->address.erase(0, 7);
  }
  if (const char* k = zmq_msg_gets(part, "User-Id"))
    info->curve_key = k;
  return info;
}

} // namespace

/// The reactor: everything in here runs on its thread, except `post`.
struct zmq_transport::impl {
  struct pending_msg {
    std::string packed;
    clock::time_point queued_at;
    bool forwarded = false; // see message::forwarded
  };

  // -- commands posted by other threads -------------------------------------

  struct command {
    enum kind_t {
      add_router,
      add_dealer,
      add_zap,
      add_monitor,
      attach,
      send,
      reply,
      close,
      authorize
    } kind;
    uint64_t id = 0;
    void* socket = nullptr;
    inbound_sink_ptr sink;
    std::shared_ptr<link_counters> counters;
    dial_options opts;
    std::string endpoint;
    std::vector<pending_msg> batch;
    std::string peer;
    std::string text;
    uint64_t owner = 0; // add_monitor: the router's id
    bool inproc = false; // add_router
    bool curve = false;  // add_router: a CURVE server
    std::shared_ptr<listener_counters> lcounters;
    std::shared_ptr<inbound_flow> flow; // add_router
    std::vector<std::string> authorized; // add_router, authorize: Z85
  };

  // -- sockets owned by the reactor thread -----------------------------------

  struct entry {
    uint64_t id = 0;
    void* socket = nullptr;
    int fd = -1;
    bool router = false;
    bool zap = false;     // the authentication handler
    bool monitor = false; // a router's handshake failures
    bool inproc = false;  // routers: messages come from this process
    bool curve = false;   // routers: a CURVE server
    uint64_t owner = 0;   // monitors: their router or dealer
    uint64_t monitor_id = 0; // CURVE routers and tcp dealers: their monitor
    int handshake_failures = 0; // dealers: failed handshakes in a row
    std::shared_ptr<listener_counters> lcounters;
    std::unordered_set<std::string> authorized; // binary client keys
    std::shared_ptr<inbound_flow> flow; // routers: what the node holds
    bool paused = false; // routers: stopped reading for `flow`
    bool ready = false; // in ready_ for another look without waiting
    inbound_sink_ptr sink; // routers: nothing is read until it is set
    std::shared_ptr<link_counters> counters;
    dial_options opts;
    std::string endpoint; // dealers: where they connect
    clock::time_point redialled{};
    std::deque<pending_msg> out;
    /// CURVE routers: the connection behind each routing id, shared by its
    /// messages. A routing id is held by one connection at a time (no
    /// handover), but a new connection may take it once the old one is
    /// gone: the key and address libzmq reports are compared each time.
    struct known_connection {
      std::string key;     // User-Id as libzmq gives it
      std::string address; // Peer-Address as libzmq gives it
      connection_info_ptr info;
      /// The TCP socket libzmq reads it from (ZMQ_SRCFD) and that socket's
      /// remote end when it was noted: a reload that revokes the key shuts
      /// the socket down, after checking that the descriptor still is the
      /// same connection (libzmq may have closed it and reused the number).
      int fd = -1;
      sockaddr_storage remote{};
      socklen_t remote_len = 0;
    };
    std::unordered_map<std::string, known_connection> connections;
  };

  /// Routing ids a CURVE router remembers; past that it starts afresh (a
  /// message still holding an old connection_info keeps it alive).
  static constexpr size_t max_known_connections = 4096;

  void* ctx = nullptr;
  /// Whether the ZAP handler is bound; guarded by zap_mtx, as listen() may
  /// be called from several threads.
  std::mutex zap_mtx;
  bool zap_bound = false;
  int epfd = -1;
  int wakefd = -1;
  std::thread thread;
  std::atomic<uint64_t> next_id{1};

  std::mutex mtx;
  std::vector<command> commands;
  bool signaled = false;
  bool stopping = false;

  std::unordered_map<uint64_t, entry> entries;
  /// Sinks of closed or re-attached listeners. A sink holds its node's
  /// incoming link actor; releasing the last reference to it here could
  /// tear down that node's actors, its transport and this reactor on the
  /// reactor's own thread. They go when the reactor does, on its owner's
  /// thread: one per listener ever closed.
  std::vector<inbound_sink_ptr> graveyard;

  void bury(inbound_sink_ptr&& sink) {
    if (sink)
      graveyard.push_back(std::move(sink));
  }
  std::vector<uint64_t> ready;
  /// Routers that stopped reading because their node holds too much.
  std::vector<uint64_t> paused;
  size_t queued_total = 0; // messages in all `out` queues
  clock::time_point last_expiry{};
  /// Why the reactor could not start (no epoll, no eventfd), or empty.
  std::string broken;

  impl() {
    ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_BLOCKY, 0);
    // libzmq allows 1023 sockets per context by default: too few for a
    // simulation of a thousand nodes with their links.
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, zmq_ctx_get(ctx, ZMQ_SOCKET_LIMIT));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0; // id 0 is the wake-up descriptor
    if (epfd < 0 || wakefd < 0
        || epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) != 0) {
      // Out of descriptors, say: no reactor. Every listen() says why (a
      // node cannot start), and no link is ever dialled.
      broken = std::string{"the ZeroMQ reactor cannot start: "}
               + std::strerror(errno);
      QUILT_ERROR("zmq", broken);
    }
    thread = std::thread([this] { run(); });
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
    }
    wake();
    if (thread.get_id() == std::this_thread::get_id()) {
      // Nothing released on the reactor thread owns the reactor (sinks are
      // kept in the graveyard): if this ever happens, say so and stop.
      QUILT_ERROR("zmq", "the reactor was destroyed from its own thread");
      std::terminate();
    }
    thread.join();
    // The ZAP handler goes last: a CURVE router without one would admit
    // every key, even if only for this instant.
    for (auto& [id, e] : entries)
      if (!e.zap)
        zmq_close(e.socket);
    for (auto& [id, e] : entries)
      if (e.zap)
        zmq_close(e.socket);
    entries.clear();
    // Sockets handed over after the loop ended: close them too, or
    // zmq_ctx_term would wait for them for ever.
    for (auto& c : commands)
      if (c.socket)
        zmq_close(c.socket);
    commands.clear();
    zmq_ctx_term(ctx);
    close(epfd);
    close(wakefd);
  }

  /// Binds the ZAP handler once, before the first CURVE listener: without
  /// one, libzmq would admit every CURVE client. Any thread.
  std::optional<std::string> bind_zap() {
    std::lock_guard<std::mutex> guard{zap_mtx};
    if (zap_bound)
      return std::nullopt;
    void* s = zmq_socket(ctx, ZMQ_REP);
    if (!s)
      return "cannot create the authentication handler: "
             + std::string{zmq_strerror(zmq_errno())};
    socket_options o{s};
    o.set_int(ZMQ_LINGER, 0, "ZMQ_LINGER");
    if (!o.ok()) {
      zmq_close(s);
      return "cannot set up the authentication handler: " + o.error();
    }
    if (zmq_bind(s, zap_endpoint) != 0) {
      std::string err = zmq_strerror(zmq_errno());
      zmq_close(s);
      return "cannot bind the authentication handler: " + err;
    }
    zap_bound = true;
    command c;
    c.kind = command::add_zap;
    c.id = next_id++;
    c.socket = s;
    post(std::move(c));
    return std::nullopt;
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = write(wakefd, &one, sizeof(one));
  }

  void post(command&& c) {
    bool need_wake = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      commands.push_back(std::move(c));
      need_wake = !signaled;
      signaled = true;
    }
    if (need_wake)
      wake();
  }

  // -- reactor loop ----------------------------------------------------------

  void run() {
    std::vector<command> incoming;
    epoll_event events[256];
    for (;;) {
      int timeout = ready.empty() ? next_timeout_ms() : 0;
      int n = epoll_wait(epfd, events, 256, timeout);
      if (n < 0 && errno != EINTR) {
        QUILT_ERROR("zmq", "epoll_wait: " << std::strerror(errno));
        return;
      }
      bool woken = false;
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == 0)
          woken = true;
        else
          mark_ready(events[i].data.u64);
      }
      if (woken) {
        uint64_t dummy;
        [[maybe_unused]] auto r = read(wakefd, &dummy, sizeof(dummy));
        bool stopping_now = false;
        {
          std::lock_guard<std::mutex> guard{mtx};
          stopping_now = stopping;
          incoming.swap(commands);
          signaled = false;
        }
        if (stopping_now) {
          // Sockets handed over but never added: close them, or
          // zmq_ctx_term would wait for them for ever.
          for (auto& c : incoming)
            if (c.socket)
              zmq_close(c.socket);
          for (auto& c : incoming)
            bury(std::move(c.sink));
          return;
        }
        for (auto& c : incoming)
          apply(c);
        incoming.clear();
      }
      if (!paused.empty())
        resume_drained();
      auto now = clock::now();
      auto current = std::move(ready);
      ready.clear();
      for (auto id : current) {
        auto i = entries.find(id);
        if (i == entries.end())
          continue;
        i->second.ready = false;
        service(i->second);
      }
      expire_pending(now);
    }
  }

  int next_timeout_ms() const {
    // A paused router looks at its node's progress every millisecond;
    // queued outbound messages need a timer to expire them.
    if (!paused.empty())
      return 1;
    return queued_total > 0 ? 100 : -1;
  }

  /// Reads again from routers whose node is down to half its limit.
  void resume_drained() {
    for (size_t i = 0; i < paused.size();) {
      auto e = entries.find(paused[i]);
      if (e == entries.end() || e->second.flow->drained()) {
        if (e != entries.end()) {
          e->second.paused = false;
          mark_ready(e->first);
        }
        paused[i] = paused.back();
        paused.pop_back();
      } else {
        ++i;
      }
    }
  }

  void mark_ready(uint64_t id) {
    auto i = entries.find(id);
    if (i != entries.end() && !i->second.ready) {
      i->second.ready = true;
      ready.push_back(id);
    }
  }

  void apply(command& c) {
    switch (c.kind) {
      case command::add_router:
      case command::add_dealer:
      case command::add_zap:
      case command::add_monitor: {
        entry e;
        e.id = c.id;
        e.socket = c.socket;
        e.router = c.kind == command::add_router;
        e.zap = c.kind == command::add_zap;
        e.monitor = c.kind == command::add_monitor;
        e.inproc = c.inproc;
        e.curve = c.curve;
        e.owner = c.owner;
        e.lcounters = std::move(c.lcounters);
        e.flow = std::move(c.flow);
        e.authorized = binary_keys(c.authorized);
        e.counters = std::move(c.counters);
        e.opts = std::move(c.opts);
        e.endpoint = std::move(c.endpoint);
        watch(e);
        if (e.monitor)
          if (auto r = entries.find(e.owner); r != entries.end())
            r->second.monitor_id = e.id;
        entries.emplace(e.id, std::move(e));
        mark_ready(c.id);
        break;
      }
      case command::attach: {
        auto i = entries.find(c.id);
        if (i == entries.end()) {
          bury(std::move(c.sink));
          break;
        }
        bury(std::move(i->second.sink));
        i->second.sink = std::move(c.sink);
        mark_ready(c.id);
        break;
      }
      case command::send: {
        auto i = entries.find(c.id);
        if (i == entries.end())
          break;
        auto now = clock::now();
        for (auto& m : c.batch) {
          m.queued_at = now;
          i->second.out.push_back(std::move(m));
        }
        queued_total += c.batch.size();
        mark_ready(c.id);
        break;
      }
      case command::reply: {
        auto i = entries.find(c.id);
        if (i == entries.end())
          break;
        // Replies are rare and small; one failing (peer gone) is harmless.
        auto s = i->second.socket;
        zmq_send(s, c.peer.data(), c.peer.size(), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s, c.text.data(), c.text.size(), ZMQ_DONTWAIT);
        mark_ready(c.id);
        break;
      }
      case command::authorize: {
        auto i = entries.find(c.id);
        if (i != entries.end() && i->second.router && i->second.curve)
          set_authorized(i->second, c.authorized);
        break;
      }
      case command::close: {
        auto i = entries.find(c.id);
        if (i == entries.end())
          break;
        auto& e = i->second;
        if (e.counters && !e.out.empty())
          count_dropped(e, e.out.begin(), e.out.end());
        queued_total -= e.out.size();
        auto monitor = e.monitor_id;
        unwatch(e);
        bury(std::move(e.sink));
        entries.erase(i);
        if (auto m = entries.find(monitor); monitor != 0 && m != entries.end()) {
          unwatch(m->second);
          entries.erase(m);
        }
        break;
      }
    }
  }

  /// Counts queued messages [from, to) of `e` as dropped.
  static void count_dropped(entry& e, std::deque<pending_msg>::iterator from,
                            std::deque<pending_msg>::iterator to) {
    auto n = static_cast<uint64_t>(to - from);
    e.counters->dropped += n;
    e.counters->queued -= n;
  }

  /// Reads and writes what the socket allows. ZMQ_FD is edge-triggered: it
  /// only fires again after ZMQ_EVENTS was checked, so every pass ends on it.
  void service(entry& e) {
    if (!e.socket)
      return; // waits for redial
    if (e.zap || e.monitor) {
      drain(e);
      return;
    }
    int budget = read_budget;
    for (;;) {
      int events = 0;
      size_t len = sizeof(events);
      if (zmq_getsockopt(e.socket, ZMQ_EVENTS, &events, &len) != 0)
        return;
      bool progress = false;
      // A router reads only once its node attached a sink: until then
      // messages wait in libzmq's queue, which pushes back on senders.
      if ((events & ZMQ_POLLIN) && budget > 0 && (!e.router || e.sink)
          && !e.paused) {
        int allowed = budget;
        if (e.flow)
          allowed = static_cast<int>(std::min<int64_t>(budget, e.flow->room()));
        if (allowed > 0) {
          budget -= read_some(e, allowed);
          progress = true;
        } else {
          // The node holds its limit: leave the rest in libzmq's queue,
          // which pushes back on the senders, until it is down to half.
          e.paused = true;
          paused.push_back(e.id);
        }
      }
      if ((events & ZMQ_POLLOUT) && !e.out.empty()) {
        write_some(e);
        progress = true;
      }
      if (!progress)
        break;
      if (budget <= 0) {
        mark_ready(e.id); // more to read: come back after the others
        break;
      }
    }
  }

  /// Answers ZAP requests or reads monitor events, until none is left.
  void drain(entry& e) {
    std::vector<std::string> frames;
    for (;;) {
      int events = 0;
      size_t len = sizeof(events);
      if (zmq_getsockopt(e.socket, ZMQ_EVENTS, &events, &len) != 0
          || !(events & ZMQ_POLLIN))
        return;
      frames.clear();
      zmq_msg_t part;
      zmq_msg_init(&part);
      bool more = true;
      while (more && zmq_msg_recv(&part, e.socket, ZMQ_DONTWAIT) >= 0) {
        frames.emplace_back(static_cast<const char*>(zmq_msg_data(&part)),
                            zmq_msg_size(&part));
        more = zmq_msg_more(&part);
      }
      zmq_msg_close(&part);
      if (e.zap)
        answer_zap(e, frames);
      else
        monitor_event(e, frames);
    }
  }

  /// RFC 27: version, request id, domain, address, routing id, mechanism,
  /// credentials. Only CURVE clients whose key the domain's listener
  /// authorized are admitted; their key (Z85) becomes the connection's
  /// User-Id, which messages then carry.
  void answer_zap(entry& e, const std::vector<std::string>& req) {
    std::string status = "400";
    std::string text = "not authorized";
    std::string user;
    entry* router = nullptr;
    if (req.size() >= 6) {
      for (auto& [id, r] : entries)
        if (r.router && zap_domain(id) == req[2]) {
          router = &r;
          break;
        }
    }
    if (router && req[5] == "CURVE" && req.size() >= 7 && req[6].size() == 32
        && router->authorized.count(req[6]) > 0) {
      status = "200";
      text = "OK";
      char z85[z85_key_size + 1];
      zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(req[6].data()), 32);
      user.assign(z85, z85_key_size);
    } else if (router && router->lcounters) {
      ++router->lcounters->rejected_auth;
    }
    std::string reply[] = {"1.0", req.size() > 1 ? req[1] : std::string{},
                           status, text, user, std::string{}};
    for (size_t i = 0; i < 6; ++i)
      zmq_send(e.socket, reply[i].data(), reply[i].size(),
               ZMQ_DONTWAIT | (i + 1 < 6 ? ZMQ_SNDMORE : 0));
  }

  /// A monitor event: 16-bit event, 32-bit value, then the endpoint.
  void monitor_event(entry& e, const std::vector<std::string>& ev) {
    if (ev.empty() || ev[0].size() < 2)
      return;
    uint16_t event;
    std::memcpy(&event, ev[0].data(), sizeof(event));
    auto owner = entries.find(e.owner);
    if (owner == entries.end())
      return; // its socket was closed: the event is about nothing now
    if (owner->second.router)
      count_handshake_failure(owner->second, event);
    else
      follow_link(owner->second, event);
  }

  /// A router's monitor: a client libzmq turns away before ZAP (one that
  /// does not speak CURVE, garbles it, or expects another server key)
  /// counts as refused; ZAP's own refusals were counted by answer_zap.
  static void count_handshake_failure(entry& router, uint16_t event) {
    if (event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        && event != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      return;
    if (router.lcounters)
      ++router.lcounters->rejected_auth;
  }

  /// A dealer's monitor keeps its link's status (SPEC §12): connected
  /// after a handshake, connecting again when the connection drops, and
  /// auth_failed once CURVE handshakes keep failing. auth_failed stays
  /// through the disconnects and redials that follow each failure, until
  /// a handshake succeeds, so that the protocol sees one change, not one
  /// per retry.
  static void follow_link(entry& dealer, uint16_t event) {
    if (!dealer.counters)
      return;
    auto& status = dealer.counters->status;
    switch (event) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        dealer.handshake_failures = 0;
        ++dealer.counters->connection;
        status = link_status::connected;
        break;
      case ZMQ_EVENT_DISCONNECTED:
        if (status.load() == link_status::connected)
          status = link_status::connecting;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        // A plain link that fails its handshake meets no key to blame (a
        // CURVE listener, or no ZeroMQ at all): it stays connecting.
        if (dealer.opts.curve_server_key.empty())
          break;
        if (++dealer.handshake_failures >= auth_failures_in_a_row)
          status = link_status::auth_failed;
        break;
      default:
        break;
    }
  }

  /// A CURVE router's connection behind routing id `peer`, from the frame
  /// after the routing id: the one remembered when libzmq reports the same
  /// key and address, else a new one (a new connection took the id). Not
  /// from the routing id frame: libzmq 4.3.4 leaves that one without
  /// metadata when the message was prefetched by a ZMQ_EVENTS check.
  connection_info_ptr connection_for(entry& e, const std::string& peer,
                                     zmq_msg_t* part) {
    const char* key = zmq_msg_gets(part, "User-Id");
    const char* address = zmq_msg_gets(part, "Peer-Address");
    std::string_view k = key ? key : "";
    std::string_view a = address ? address : "";
    auto i = e.connections.find(peer);
    if (i != e.connections.end() && i->second.key == k
        && i->second.address == a) {
      note_socket(i->second, part);
      return i->second.info;
    }
    if (i == e.connections.end()
        && e.connections.size() >= max_known_connections)
      e.connections.clear();
    auto& known = e.connections[peer];
    known.key.assign(k);
    known.address.assign(a);
    known.info = connection_of(part, e.inproc);
    note_socket(known, part);
    return known.info;
  }

  /// Keeps the socket a connection's message came from; its remote end is
  /// read only when the descriptor changes, not once per message.
  static void note_socket(entry::known_connection& known, zmq_msg_t* part) {
    int fd = zmq_msg_get(part, ZMQ_SRCFD);
    if (fd < 0 || fd == known.fd)
      return;
    known.fd = fd;
    known.remote_len = sizeof(known.remote);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&known.remote),
                    &known.remote_len)
        != 0)
      known.fd = -1;
  }

  /// A reload's new key list for a CURVE router (SPEC §15): the ZAP
  /// handler admits only these from now on, and each connection it holds
  /// with another key is shut down. libzmq then sees the socket fail and
  /// drops the connection itself; the client's reconnection meets the new
  /// list in its handshake.
  void set_authorized(entry& e, const std::vector<std::string>& keys) {
    e.authorized = binary_keys(keys);
    std::unordered_set<std::string> z85(keys.begin(), keys.end());
    for (auto i = e.connections.begin(); i != e.connections.end();) {
      auto& known = i->second;
      if (z85.count(known.key) > 0) {
        ++i;
        continue;
      }
      sockaddr_storage now{};
      socklen_t len = sizeof(now);
      if (known.fd >= 0
          && getpeername(known.fd, reinterpret_cast<sockaddr*>(&now), &len)
               == 0
          && len == known.remote_len
          && std::memcmp(&now, &known.remote, len) == 0)
        ::shutdown(known.fd, SHUT_RDWR);
      i = e.connections.erase(i);
    }
  }

  int read_some(entry& e, int budget) {
    inbound_batch batch;
    batch.reserve(64);
    zmq_msg_t part;
    zmq_msg_init(&part);
    int count = 0;
    while (count < budget) {
      if (zmq_msg_recv(&part, e.socket, ZMQ_DONTWAIT) < 0)
        break;
      inbound in;
      in.packed.reserve(256); // most messages fit: one allocation, no regrowth
      size_t frame = 0;
      size_t packed = 0; // frames packed: the second one is the command
      bool more = true;
      for (;;) {
        auto data = static_cast<const char*>(zmq_msg_data(&part));
        auto size = zmq_msg_size(&part);
        more = zmq_msg_more(&part);
        if (!e.router) {
          // DEALERs are never answered; drain whatever a peer sends.
        } else if (frame == 0) {
          in.peer.assign(data, size);
        } else if (frame == 1 && size == 0 && in.packed.empty() && more) {
          in.req = true; // REQ delimiter
          if (e.curve)
            in.via = connection_for(e, in.peer, &part);
        } else if (frame < max_frames + 1) {
          if (frame == 1 && e.curve)
            in.via = connection_for(e, in.peer, &part);
          if (packed == 1 && !in.via
              && std::string_view{data, size} == "server_connect")
            in.via = connection_of(&part, e.inproc);
          pack_frame(in.packed, std::string_view{data, size});
          ++packed;
        } else {
          // Oversized frame count: keep the count visible to the codec by
          // packing empty frames, without copying more payload.
          pack_frame(in.packed, std::string_view{});
        }
        ++frame;
        if (!more)
          break;
        if (zmq_msg_recv(&part, e.socket, ZMQ_DONTWAIT) < 0)
          break;
      }
      ++count;
      if (!e.router)
        continue;
      batch.push_back(std::move(in));
    }
    zmq_msg_close(&part);
    if (!batch.empty()) {
      auto n = static_cast<int64_t>(batch.size());
      flow_credit credit;
      if (e.flow) {
        e.flow->take(n);
        credit = flow_credit{e.flow, n};
      }
      e.sink->frames(std::move(batch), std::move(credit));
    }
    return count == 0 ? 1 : count;
  }

  void write_some(entry& e) {
    std::string_view frames[max_frames];
    uint64_t written = 0;
    uint64_t forwarded = 0;
    while (!e.out.empty()) {
      auto& m = e.out.front().packed;
      auto n = unpack_frames(m, frames, max_frames);
      n = std::min(n, max_frames);
      // Multipart sends are atomic: if the first frame goes, all go.
      if (zmq_send(e.socket, frames[0].data(), frames[0].size(),
                   ZMQ_DONTWAIT | (n > 1 ? ZMQ_SNDMORE : 0))
          < 0)
        break;
      for (size_t i = 1; i < n; ++i)
        zmq_send(e.socket, frames[i].data(), frames[i].size(),
                 i + 1 < n ? ZMQ_SNDMORE : 0);
      forwarded += e.out.front().forwarded;
      e.out.pop_front();
      ++written;
    }
    // One update of the shared counters per pass, not per message.
    queued_total -= written;
    if (e.counters && written > 0) {
      e.counters->tx += written;
      e.counters->queued -= written;
      if (forwarded > 0)
        e.counters->forwarded += forwarded;
    }
  }

  void expire_pending(clock::time_point now) {
    // A scan of every socket, so at most ten times a second.
    if (queued_total == 0 || now - last_expiry < std::chrono::milliseconds(100))
      return;
    last_expiry = now;
    // A redial may add a monitor to `entries`: not while walking it.
    std::vector<uint64_t> redials;
    for (auto& [id, e] : entries) {
      auto max_age = std::chrono::milliseconds(e.opts.max_queue_age_ms);
      auto end = e.out.begin();
      while (end != e.out.end() && now - end->queued_at > max_age)
        ++end;
      auto dropped = static_cast<size_t>(end - e.out.begin());
      if (dropped > 0 && e.counters)
        count_dropped(e, e.out.begin(), end);
      e.out.erase(e.out.begin(), end);
      queued_total -= dropped;
      if (needs_redial(e, now))
        redials.push_back(id);
    }
    for (auto id : redials)
      redial(id, now);
  }

  /// libzmq's inproc DEALERs never reconnect to an endpoint that is bound
  /// again (a restarted node in the same process); tcp ones do. So an
  /// inproc link whose messages have waited too long gets a new socket.
  bool needs_redial(const entry& e, clock::time_point now) const {
    // Waiting half the queue age (at most a second) means not connected.
    auto patience = std::min<clock::duration>(
      std::chrono::seconds(1),
      std::chrono::milliseconds(e.opts.max_queue_age_ms) / 2);
    // A DEALER libzmq could not create is tried again on the same terms.
    if (e.router || (e.socket && e.out.empty())
        || (e.socket && e.endpoint.rfind("inproc://", 0) != 0)
        || (!e.out.empty() && now - e.out.front().queued_at < patience)
        || now - e.redialled < patience)
      return false;
    return !e.zap && !e.monitor;
  }

  /// Gives dealer `id` a new socket, and a new monitor with it.
  void redial(uint64_t id, clock::time_point now) {
    auto i = entries.find(id);
    if (i == entries.end())
      return;
    i->second.redialled = now;
    unwatch(i->second);
    if (auto m = entries.find(i->second.monitor_id);
        i->second.monitor_id != 0 && m != entries.end()) {
      unwatch(m->second);
      entries.erase(m);
    }
    i->second.monitor_id = 0;
    auto made = make_dealer(ctx, i->second.endpoint, i->second.opts, next_id++);
    i->second.socket = made.dealer;
    i->second.handshake_failures = 0;
    watch(i->second);
    mark_ready(id);
    if (made.monitor) {
      entry m;
      m.id = made.monitor_id;
      m.socket = made.monitor;
      m.monitor = true;
      m.owner = id;
      i->second.monitor_id = m.id;
      watch(m);
      entries.emplace(m.id, std::move(m));
      mark_ready(made.monitor_id);
    }
  }

  /// Adds the socket's ZMQ_FD to the epoll set.
  void watch(entry& e) {
    if (!e.socket)
      return;
    size_t len = sizeof(e.fd);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = e.id;
    if (zmq_getsockopt(e.socket, ZMQ_FD, &e.fd, &len) != 0
        || epoll_ctl(epfd, EPOLL_CTL_ADD, e.fd, &ev) != 0) {
      // A socket never polled would hold its link silently: closed
      // instead, so that a dealer is made again (needs_redial) and the
      // error shows.
      QUILT_ERROR("zmq", "cannot watch the socket of "
                           << (e.endpoint.empty() ? "a listener" : e.endpoint)
                           << ": " << std::strerror(errno));
      zmq_close(e.socket);
      e.socket = nullptr;
      e.fd = -1;
    }
  }

  /// Removes the socket from the epoll set and closes it.
  void unwatch(entry& e) {
    if (!e.socket)
      return;
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, e.fd, nullptr) != 0)
      QUILT_WARN("zmq", "epoll_ctl(DEL): " << std::strerror(errno));
    zmq_close(e.socket);
    e.socket = nullptr;
    e.fd = -1;
  }
};

namespace {

/// An outgoing link backed by a DEALER owned by the reactor.
class zmq_link : public outgoing_link {
public:
  zmq_link(std::shared_ptr<zmq_transport::impl> r, uint64_t id,
           std::shared_ptr<link_counters> c, uint64_t limit)
    : reactor_(std::move(r)), id_(id), counters_(std::move(c)), limit_(limit) {
  }

  ~zmq_link() override {
    zmq_transport::impl::command c;
    c.kind = zmq_transport::impl::command::close;
    c.id = id_;
    reactor_->post(std::move(c));
  }

  size_t send(message_batch& batch) override {
    auto queued = counters_->queued.load();
    uint64_t room = queued >= limit_ ? 0 : limit_ - queued;
    size_t taken = std::min<uint64_t>(batch.size(), room);
    if (batch.size() > taken)
      counters_->dropped += batch.size() - taken;
    if (taken == 0)
      return 0;
    counters_->count_taken(batch, taken);
    counters_->queued += taken;
    zmq_transport::impl::command c;
    c.kind = zmq_transport::impl::command::send;
    c.id = id_;
    c.batch.resize(taken);
    for (size_t i = 0; i < taken; ++i) {
      c.batch[i].forwarded = batch[i].forwarded;
      pack_message(std::move(batch[i]), c.batch[i].packed);
    }
    reactor_->post(std::move(c));
    return taken;
  }

  const link_counters& counters() const override { return *counters_; }

  link_counters_ptr shared_counters() const override { return counters_; }

private:
  std::shared_ptr<zmq_transport::impl> reactor_;
  uint64_t id_;
  std::shared_ptr<link_counters> counters_;
  uint64_t limit_;
};

} // namespace

zmq_transport::zmq_transport(scheme s)
  : scheme_(s), impl_(std::make_shared<impl>()) {
}

zmq_transport::~zmq_transport() = default;

std::string zmq_transport::endpoint(const std::string& address,
                                    uint16_t port) const {
  auto prefix = scheme_ == scheme::tcp ? "tcp://" : "inproc://";
  auto host = address;
  if (scheme_ == scheme::tcp && host.find(':') != std::string::npos
      && host.front() != '[')
    host = "[" + host + "]"; // IPv6 literal
  return prefix + host + ":" + std::to_string(port);
}

std::variant<listener_id, std::string>
zmq_transport::listen(const std::string& endpoint,
                      const listen_options& opts) {
  // The socket is made and bound here, then handed to the reactor: ZeroMQ
  // allows moving a socket between threads across a full memory barrier,
  // which the command queue's mutex provides.
  if (!impl_->broken.empty())
    return impl_->broken;
  if (opts.curve) {
    if (auto e = impl_->bind_zap())
      return *e;
  }
  void* s = zmq_socket(impl_->ctx, ZMQ_ROUTER);
  if (!s)
    return std::string{zmq_strerror(zmq_errno())};
  auto id = impl_->next_id++;
  socket_options o{s};
  if (opts.curve) {
    o.set_int(ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER");
    o.set(ZMQ_CURVE_SECRETKEY, opts.curve->secret_key, "ZMQ_CURVE_SECRETKEY");
    o.set(ZMQ_ZAP_DOMAIN, zap_domain(id), "ZMQ_ZAP_DOMAIN");
  }
  int64_t max = static_cast<int64_t>(opts.max_message_bytes);
  o.set(ZMQ_MAXMSGSIZE, &max, sizeof(max), "ZMQ_MAXMSGSIZE");
  // Under CURVE, no ZMQ_ROUTER_HANDOVER on tcp: with it any authorized
  // client that names itself `b` displaces the real b, whose connection
  // libzmq then leaves open but unread, for ever (SPEC §12). Without it,
  // libzmq 4.3.4 parks a second connection with a taken routing id and
  // never reads it, even after the first one is gone; so a restarted peer
  // gets its id back only if its old connection is closed first: at once
  // when its process died (the kernel closes it), within reap_after_ms
  // when its host or the network did (TCP keepalive below), and a node
  // whose connection was parked anyway (it came back before its old one
  // was gone: a stopped process resumed) redials once it sees no answers
  // (protocol_config::redial_unanswered). In plain mode nothing ties a
  // routing id to anybody, so parking would buy no trust, only that risk:
  // handover on, as inside one process (inproc), where every client is a
  // node of this process and a restarted one must take its id back.
  o.set_int(ZMQ_ROUTER_HANDOVER, is_tcp(endpoint) && opts.curve ? 0 : 1,
            "ZMQ_ROUTER_HANDOVER");
  o.set_int(ZMQ_LINGER, 0, "ZMQ_LINGER");
  o.set_int(ZMQ_RCVHWM, 10000, "ZMQ_RCVHWM");
  o.set_int(ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM");
  if (is_tcp(endpoint)) {
    o.set_int(ZMQ_IPV6, 1, "ZMQ_IPV6");
    if (opts.reap_after_ms > 0) {
      // Idle half the time, then three probes over the other half.
      o.set_int(ZMQ_TCP_KEEPALIVE, 1, "ZMQ_TCP_KEEPALIVE");
      o.set_int(ZMQ_TCP_KEEPALIVE_IDLE,
                static_cast<int>(std::max<uint32_t>(1, opts.reap_after_ms / 2000)),
                "ZMQ_TCP_KEEPALIVE_IDLE");
      o.set_int(ZMQ_TCP_KEEPALIVE_INTVL,
                static_cast<int>(std::max<uint32_t>(1, opts.reap_after_ms / 6000)),
                "ZMQ_TCP_KEEPALIVE_INTVL");
      o.set_int(ZMQ_TCP_KEEPALIVE_CNT, 3, "ZMQ_TCP_KEEPALIVE_CNT");
    }
  }
  if (!o.ok()) {
    zmq_close(s);
    return "cannot listen on " + endpoint + ": " + o.error();
  }
  if (zmq_bind(s, endpoint.c_str()) != 0) {
    std::string err = zmq_strerror(zmq_errno());
    zmq_close(s);
    return "cannot listen on " + endpoint + ": " + err;
  }
  // Handshakes refused before ZAP are only reported to a monitor.
  void* monitor = nullptr;
  auto monitor_id = impl_->next_id++;
  if (opts.curve) {
    auto at = "inproc://quilt.monitor." + std::to_string(monitor_id);
    // A plain client shows as either event: as FAILED_PROTOCOL when this
    // side reads its greeting first, as FAILED_NO_DETAIL when the client
    // saw ours first and hung up mid-greeting. That a bare TCP connection
    // closing during the greeting (a port probe) counts too is the price.
    monitor = monitor_socket(impl_->ctx, s, at,
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    if (!monitor)
      QUILT_WARN("zmq", "no handshake monitor for " << endpoint << ": "
                          << zmq_strerror(zmq_errno())
                          << "; refusals before authentication go uncounted");
  }
  impl::command c;
  c.kind = impl::command::add_router;
  c.id = id;
  c.socket = s;
  c.inproc = endpoint.rfind("inproc://", 0) == 0;
  c.curve = opts.curve.has_value();
  c.lcounters = opts.counters;
  c.flow = opts.flow ? opts.flow : std::make_shared<inbound_flow>(4096);
  if (opts.curve)
    c.authorized = opts.curve->authorized;
  impl_->post(std::move(c));
  if (monitor) {
    impl::command m;
    m.kind = impl::command::add_monitor;
    m.id = monitor_id;
    m.socket = monitor;
    m.owner = id;
    impl_->post(std::move(m));
  }
  return id;
}

void zmq_transport::attach(listener_id id, inbound_sink_ptr sink) {
  impl::command c;
  c.kind = impl::command::attach;
  c.id = id;
  c.sink = std::move(sink);
  impl_->post(std::move(c));
}

void zmq_transport::close_listener(listener_id id) {
  impl::command c;
  c.kind = impl::command::close;
  c.id = id;
  impl_->post(std::move(c));
}

void zmq_transport::reply(listener_id id, std::string peer, std::string text) {
  impl::command c;
  c.kind = impl::command::reply;
  c.id = id;
  c.peer = std::move(peer);
  c.text = std::move(text);
  impl_->post(std::move(c));
}

void zmq_transport::authorize(listener_id id, std::vector<std::string> keys) {
  impl::command c;
  c.kind = impl::command::authorize;
  c.id = id;
  c.authorized = std::move(keys);
  impl_->post(std::move(c));
}

outgoing_link_ptr zmq_transport::dial(const std::string& endpoint,
                                      const dial_options& opts) {
  auto counters = opts.counters ? opts.counters
                               : std::make_shared<link_counters>();
  // A tcp link is answered once its monitor reports a handshake; inproc
  // ones have none to report and stay `connected`.
  if (is_tcp(endpoint))
    counters->status = link_status::connecting;
  impl::command c;
  c.kind = impl::command::add_dealer;
  c.id = impl_->next_id++;
  auto made = make_dealer(impl_->ctx, endpoint, opts, impl_->next_id++);
  c.socket = made.dealer;
  c.counters = counters;
  c.opts = opts;
  c.endpoint = endpoint;
  auto id = c.id;
  impl_->post(std::move(c));
  if (made.monitor) {
    impl::command m;
    m.kind = impl::command::add_monitor;
    m.id = made.monitor_id;
    m.socket = made.monitor;
    m.owner = id;
    impl_->post(std::move(m));
  }
  return std::make_shared<zmq_link>(impl_, id, std::move(counters),
                                    opts.queue_limit);
}

} // namespace quilt
