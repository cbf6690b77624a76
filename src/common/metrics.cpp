#include "common/metrics.h"

#include <algorithm>
#include <sstream>

namespace pensieve::metrics {
namespace {
std::string number(double v) {
  std::ostringstream o;
  o.precision(10);
  o << v;
  return o.str();
}
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double value) {
  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++buckets_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

std::uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
  std::lock_guard lock(mutex_);
  std::ostringstream o;
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    o << name << "_bucket{le=\"" << number(bounds_[i]) << "\"} " << cumulative << '\n';
  }
  cumulative += buckets_.back();
  o << name << "_bucket{le=\"+Inf\"} " << cumulative << '\n';
  o << name << "_sum " << number(sum_) << '\n' << name << "_count " << count_ << '\n';
  return o.str();
}

void LabeledCounter::add(const std::string& labels, double value) {
  std::lock_guard lock(mutex_);
  values_[labels] += value;
}

double LabeledCounter::get(const std::string& labels) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

std::string LabeledCounter::render(const std::string& name, const std::string& help) const {
  std::lock_guard lock(mutex_);
  std::ostringstream o;
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
  for (const auto& [labels, v] : values_) o << name << '{' << labels << "} " << number(v) << '\n';
  return o.str();
}

std::string render_gauge(const std::string& name, const std::string& help, double value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + number(value) + "\n";
}

std::string render_counter(const std::string& name, const std::string& help, double value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + number(value) + "\n";
}

}  // namespace pensieve::metrics
