#pragma once
// Prometheus-style counters, gauges and histograms, safe to update from any thread and rendered
// in the Prometheus text format by the server's /metrics route.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace pensieve::metrics {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // `name` with `# TYPE` line, cumulative buckets, _sum and _count.
  std::string render(const std::string& name, const std::string& help) const;
  std::uint64_t count() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> buckets_;  // one per bound, plus +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Counters keyed by a label set written as Prometheus label text, e.g. route="/v1/messages",status="200".
class LabeledCounter {
 public:
  void add(const std::string& labels, double value = 1);
  std::string render(const std::string& name, const std::string& help) const;
  double get(const std::string& labels) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;
};

std::string render_gauge(const std::string& name, const std::string& help, double value);
std::string render_counter(const std::string& name, const std::string& help, double value);

}  // namespace pensieve::metrics
