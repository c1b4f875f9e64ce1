#include "report/finding_text.h"

#include "connleak/session_apis.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>

namespace connleak {
namespace {

std::string plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

const char* was(size_t n) { return n == 1 ? "was" : "were"; }

// "to 127.0.0.1:8080", or "to 3 peers (a, b, c)".
std::string peers_phrase(const std::vector<LeakInstance>& instances) {
  std::set<std::string> peers;
  for (const auto& i : instances) {
    if (!i.peer.empty()) peers.insert(i.peer);
  }
  if (peers.empty()) return "";
  if (peers.size() == 1) return " to " + *peers.begin();
  std::string list;
  size_t shown = 0;
  for (const auto& peer : peers) {
    if (shown++ == 3) {
      list += ", ...";
      break;
    }
    list += (list.empty() ? "" : ", ") + peer;
  }
  return " to " + std::to_string(peers.size()) + " peers (" + list + ")";
}

// "TCP", "UDP", "unix stream", "listening TCP"; "" when the kernel's answer
// was not known ("other other" says nothing).
std::string socket_kind(const LeakInstance& i) {
  std::string what;
  if (i.protocol == "tcp" || i.protocol == "udp") {
    what = i.protocol == "tcp" ? "TCP" : "UDP";
  } else {
    for (const std::string& part : {i.family, i.protocol}) {
      if (part.empty() || part == "other") continue;
      what += (what.empty() ? "" : " ") + part;
    }
  }
  if (i.listening) what = "listening" + (what.empty() ? std::string() : " " + what);
  return what;
}

std::string kind_noun(const std::string& kind, size_t n) {
  return (kind.empty() ? "" : kind + " ") + (n == 1 ? "socket" : "sockets");
}

std::string leak_message(const Finding& f, const Model& model, const std::vector<Leak>& group) {
  size_t n = f.instances.size();
  const LeakInstance& first = f.instances.front();
  if (f.kind == "leaked-connection") {
    const SocketLife& s = model.sockets[size_t(group.front().socket)];
    std::string verb = s.accepted ? " accepted here " : s.received ? " received here " : " opened here ";
    return plural(n, "connection", "connections") + peers_phrase(f.instances) +
           verb + was(n) + " never closed";
  }
  // The whole group's kinds, not the first instance's.
  std::map<std::string, size_t> kinds;
  for (const auto& i : f.instances) ++kinds[socket_kind(i)];
  std::string noun;
  if (kinds.size() == 1) {
    noun = kind_noun(kinds.begin()->first, n);
    if (first.listening && !first.local.empty() && n == 1) noun += " on " + first.local;
  } else {
    std::string parts;
    for (const auto& [kind, count] : kinds)
      parts += (parts.empty() ? "" : ", ") + std::to_string(count) + (kind.empty() ? " of unknown kind" : " " + kind);
    noun = kind_noun("", n) + " (" + parts + ")";
  }
  return std::to_string(n) + " " + noun + " created here " + was(n) + " never closed";
}

// "2 sockets created here without close-on-exec lived on in /bin/sleep (pid 12)"
std::string inherited_message(const Finding& f, const Model& model, const std::vector<Leak>& group) {
  std::set<std::string> images;
  for (const auto& leak : group) {
    const ProcessLife& p = model.processes[size_t(leak.process)];
    images.insert(p.exe + " (pid " + std::to_string(p.pid) + ")");
  }
  std::string where = *images.begin();
  if (images.size() > 1) where += " and " + plural(images.size() - 1, "other image", "other images");
  size_t n = f.instances.size();
  return plural(n, "socket", "sockets") + " created here without close-on-exec " + was(n) +
         " inherited across exec by " + where;
}

std::string bad_close_message(const Finding& f) {
  size_t n = f.instances.size();
  const LeakInstance& first = f.instances.front();
  std::string what = first.peer.empty() ? "" : " (it had held the connection to " + first.peer + ")";
  if (n == 1) {
    return "close(" + std::to_string(first.fd) + ") here closed a socket fd that was already closed" + what;
  }
  return plural(n, "close", "closes") + " here closed socket fds that were already closed";
}

// How each API invalidates a session.
std::string invalidator(const std::string& api) { return std::string(session_invalidator(api)); }

std::string session_api(const Finding& f) {
  const auto& facts = f.instances.front().session_facts;
  return facts ? facts->api : "unknown";
}

// "5 curl_easy sessions created here were never invalidated (no
// curl_easy_cleanup); they still held 5 connections when the process ended"
std::string leaked_session_message(const Finding& f) {
  size_t n = f.instances.size();
  std::string api = session_api(f);
  size_t held = 0;
  for (const auto& i : f.instances) held += i.session_facts ? i.session_facts->connections.size() : 0;
  std::string message = plural(n, api + " session", api + " sessions") + " created here " + was(n) +
                        " never invalidated (no " + invalidator(api) + ")";
  if (held) {
    message += std::string(n == 1 ? "; it" : "; they") + " still held " +
               plural(held, "connection", "connections") + " when the process ended";
  }
  return message;
}

std::string churn_message(const Finding& f) {
  std::string api = session_api(f);
  uint64_t connections = 0;
  for (const auto& i : f.instances) connections += i.session_facts ? i.session_facts->connections_opened : 0;
  return plural(f.instances.size(), api + " session", api + " sessions") +
         " created here each did a single transfer over a connection of its own (" +
         plural(connections, "connection", "connections") +
         " opened): create one session and reuse it for every request";
}

// "2 connections to 127.0.0.1:80 opened here are still held, though the peer
// closed them (CLOSE_WAIT)"; "... have been idle for 95 s (longest)".
std::string live_message(const Finding& f, const Model& model, const std::vector<Leak>& group) {
  size_t n = f.instances.size();
  const SocketLife& s = model.sockets[size_t(group.front().socket)];
  std::string what = plural(n, "connection", "connections") + peers_phrase(f.instances) +
                     (s.accepted ? " accepted here " : " opened here ");
  if (f.kind == "dead-connection")
    return what + (n == 1 ? "is" : "are") + " still held by a running process, though the peer closed " +
           (n == 1 ? "it" : "them") + " (CLOSE_WAIT)";
  uint64_t longest = 0;
  for (const Leak& leak : group) {
    const SocketLife& l = model.sockets[size_t(leak.socket)];
    longest = std::max(longest, l.end_mono_ns - std::max(l.last_io_mono_ns, l.opened_mono_ns));
  }
  return what + (n == 1 ? "has" : "have") + " been idle in a running process for up to " +
         std::to_string(longest / 1'000'000'000) + " s";
}

// "412 connections opened here are open in a running process, +37 per
// minute over the last 10 min, 0 closed in that time"
std::string growth_message(const Finding& f, const Model& model, const std::vector<Leak>& group) {
  bool running = model.processes[size_t(group.front().process)].end == ProcessEnd::kRunning;
  const LeakInstance* top = &f.instances.front();
  for (const auto& i : f.instances)
    if (i.growth->open > top->growth->open) top = &i;
  const GrowthFacts& g = *top->growth;
  bool connections = !top->peer.empty();
  std::string noun = g.sessions ? g.api + (g.open == 1 ? " session" : " sessions")
                                : (connections ? (g.open == 1 ? "connection" : "connections")
                                               : (g.open == 1 ? "socket" : "sockets"));
  char rate[32];
  std::snprintf(rate, sizeof rate, "%+.0f", g.per_minute);
  uint64_t minutes = g.window_ns / 60'000'000'000ull;
  std::string window = minutes >= 2 ? std::to_string(minutes) + " minutes"
                                    : std::to_string(g.window_ns / 1'000'000'000ull) + " s";
  std::string message = std::to_string(g.open) + " " + noun + (g.sessions ? " created" : " opened") +
                        " here " + (running ? (g.open == 1 ? "is" : "are") : (g.open == 1 ? "was" : "were")) +
                        " open and growing: " + rate +
                        " per minute over " + window + ", " + std::to_string(g.closed) + " closed in that time";
  if (f.instances.size() > 1) message += " (the largest of " + std::to_string(f.instances.size()) + " processes)";
  return message;
}

// "1 curl_easy session created here has completed no transfer for 95 s in a
// running process, and still holds 1 connection"
std::string stale_session_message(const Finding& f) {
  size_t n = f.instances.size();
  std::string api = session_api(f);
  uint64_t longest = 0;
  size_t held = 0;
  for (const auto& i : f.instances) {
    longest = std::max(longest, i.idle_ns.value_or(0));
    held += i.session_facts ? i.session_facts->connections.size() : 0;
  }
  return plural(n, api + " session", api + " sessions") + " created here " + (n == 1 ? "has" : "have") +
         " completed no transfer for up to " + std::to_string(longest / 1'000'000'000) +
         " s in a running process, and still " + (n == 1 ? "holds " : "hold ") +
         plural(held, "connection", "connections");
}

}  // namespace

std::string finding_message(const Finding& finding, const Model& model, const std::vector<Leak>& group) {
  if (finding.kind == "inherited-socket") return inherited_message(finding, model, group);
  if (finding.kind == "bad-close") return bad_close_message(finding);
  if (finding.kind == "leaked-session") return leaked_session_message(finding);
  if (finding.kind == "session-churn") return churn_message(finding);
  if (finding.kind == "connection-growth") return growth_message(finding, model, group);
  if (finding.kind == "stale-session") return stale_session_message(finding);
  if (finding.kind == "dead-connection" || finding.kind == "stale-connection")
    return live_message(finding, model, group);
  return leak_message(finding, model, group);
}

}  // namespace connleak
