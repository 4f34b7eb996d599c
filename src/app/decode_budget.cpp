#include "app/decode_budget.h"

#include <algorithm>
#include <utility>

namespace chexrt::app {

DecodeBudget::DecodeBudget(int64_t capacity_bytes) : capacity_(std::max<int64_t>(1, capacity_bytes)) {}

DecodeBudget::Reservation DecodeBudget::reserve(int64_t bytes) {
  bytes = std::max<int64_t>(0, bytes);
  std::unique_lock<std::mutex> lock(mutex_);
  freed_.wait(lock, [&] { return held_ == 0 || held_ + bytes <= capacity_; });
  held_ += bytes;
  peak_ = std::max(peak_, held_);
  return Reservation(this, bytes);
}

int64_t DecodeBudget::peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

void DecodeBudget::give_back(int64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ -= bytes;
  }
  freed_.notify_all();
}

DecodeBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DecodeBudget::Reservation& DecodeBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DecodeBudget::Reservation::~Reservation() { release(); }

void DecodeBudget::Reservation::release() {
  if (budget_ != nullptr) budget_->give_back(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

}  // namespace chexrt::app
