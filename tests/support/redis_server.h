// redis_server.h — real redis-server processes for tests: one server on a
// private unix socket (or a loopback port), or a Redis Cluster of three
// masters on loopback ports. No persistence; every process is killed with
// the object. Shared by the counter engine's and migo-policyd's tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ports.h"
#include "run.h"

namespace migo::test {

class RedisServer {
 public:
  // On DIR/redis.sock (port 0), or on 127.0.0.1:port.
  explicit RedisServer(const std::string& dir, std::vector<std::string> extra = {}, int port = 0)
      : dir_(dir), sock_(port ? "" : dir + "/redis.sock"), port_(port), extra_(std::move(extra)) {
    start();
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  void start() {
    std::vector<std::string> argv{"/usr/bin/redis-server", "--save", "", "--appendonly", "no", "--dir", dir_,
                                  "--logfile", dir_ + "/redis-" + std::to_string(port_) + ".log"};
    if (port_) {
      argv.insert(argv.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1"});
    } else {
      argv.insert(argv.end(), {"--port", "0", "--unixsocket", sock_, "--unixsocketperm", "700"});
    }
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    pid_ = spawn(argv);
    REQUIRE(pid_ > 0);
    // Until it answers (bounded: a guard against a server that never starts).
    bool up = false;
    for (int i = 0; i < 500 && !up; i++) {
      RunResult r = run(cli({"PING"}), {}, "", 10);
      up = (r.out + r.err).find("PONG") != std::string::npos || (r.out + r.err).find("NOAUTH") != std::string::npos;
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(up);
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    if (!sock_.empty()) std::filesystem::remove(sock_);
  }
  std::string url() const { return port_ ? "redis://127.0.0.1:" + std::to_string(port_) : "unix:" + sock_; }
  int port() const { return port_; }
  // redis-cli's arguments to reach this server.
  std::vector<std::string> cli(std::vector<std::string> words) const {
    std::vector<std::string> argv{"/usr/bin/redis-cli"};
    if (port_) argv.insert(argv.end(), {"-h", "127.0.0.1", "-p", std::to_string(port_)});
    else argv.insert(argv.end(), {"-s", sock_});
    argv.insert(argv.end(), words.begin(), words.end());
    return argv;
  }

 private:
  std::string dir_, sock_;
  int port_ = 0;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

// Three masters, no replicas, every slot assigned (redis-cli --cluster
// create), on free loopback ports.
class RedisCluster {
 public:
  explicit RedisCluster(const std::string& dir) {
    for (int i = 0; i < 3; i++) {
      std::string node_dir = dir + "/node" + std::to_string(i);
      std::filesystem::create_directories(node_dir);
      nodes_.push_back(std::make_unique<RedisServer>(
          node_dir,
          // The bus port is named: its default (port + 10000) may be taken,
          // or beyond 65535.
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", node_dir + "/nodes.conf",
                                   "--cluster-port", std::to_string(free_port())},
          free_port()));
    }
    std::vector<std::string> create{"/usr/bin/redis-cli", "--cluster", "create"};
    for (auto& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n->port()));
    create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    RunResult r = run(create, {}, "", 60);
    INFO(r.out + r.err);
    REQUIRE(r.rc == 0);
    // Until every node agrees the cluster is whole.
    for (auto& n : nodes_) {
      bool ok = false;
      for (int i = 0; i < 500 && !ok; i++) {
        ok = run(n->cli({"CLUSTER", "INFO"}), {}, "", 10).out.find("cluster_state:ok") != std::string::npos;
        if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      REQUIRE(ok);
    }
  }
  RedisServer& node(size_t i) { return *nodes_.at(i); }
  size_t size() const { return nodes_.size(); }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace migo::test
