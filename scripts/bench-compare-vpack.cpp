// Part of scripts/bench-compare: the reference VelocyPack library's in-process figures, measured
// the way `tessera bench vpack` measures Tessera's. Compiled by the script against a reference
// library built outside this repository; no code of that library is kept here.
//
// In-process parse and dump throughput of a VelocyPack library over a JSON-lines file:
// each line is parsed into a reused Builder, and each built value dumped into a reused string.
// Every phase repeats over the whole file for SECONDS and reports the best pass, in MB/s
// (10^6 bytes) of JSON read (parse) and JSON written (dump), as `tessera bench vpack` does.
#include <velocypack/vpack.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace arangodb::velocypack;

int main(int argc, char** argv) {
  if (argc < 2) { std::cerr << "usage: inprocess FILE.jsonl [SECONDS]\n"; return 2; }
  double seconds = argc > 2 ? std::stod(argv[2]) : 3.0;
  std::ifstream in(argv[1]);
  std::vector<std::string> lines;
  std::string line;
  size_t jsonBytes = 0;
  while (std::getline(in, line)) { if (!line.empty()) { jsonBytes += line.size(); lines.push_back(line); } }
  Options options;
  std::vector<std::shared_ptr<Builder>> built;
  for (auto const& l : lines) built.push_back(Parser::fromJson(l, &options));
  using Clock = std::chrono::steady_clock;
  auto best = [&](auto body) {
    double bestSeconds = 1e9;
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    do {
      auto start = Clock::now();
      body();
      bestSeconds = std::min(bestSeconds, std::chrono::duration<double>(Clock::now() - start).count());
    } while (Clock::now() < deadline);
    return bestSeconds;
  };
  Parser parser(&options);
  double parseSeconds = best([&] {
    for (auto const& l : lines) { parser.clear(); parser.parse(l); }
  });
  std::string out;
  out.reserve(1 << 16);
  size_t dumped = 0;
  double dumpSeconds = best([&] {
    dumped = 0;
    for (auto const& b : built) {
      out.clear();
      StringSink sink(&out);
      Dumper dumper(&sink, &options);
      dumper.dump(b->slice());
      dumped += out.size();
    }
  });
  std::printf("%s lines %zu json_mb %.1f parse_mb_s %.1f dump_mb_s %.1f\n", argv[1], lines.size(),
              jsonBytes / 1e6, jsonBytes / parseSeconds / 1e6, dumped / dumpSeconds / 1e6);
}
