// A bound on the bytes that decoding may hold at once, whatever the number of decoding threads.
//
// A file's size says little about its decoded size: a 400 KB PNG of zeros can be an 8192 x 8192
// 16-bit RGB image, 1.2 GB once decoded to floats. Each decode reserves its estimated peak
// (decode_peak_bytes()) before it allocates anything and gives it back when its pixels are gone;
// a reservation waits while others hold the budget. One image larger than the whole budget still
// runs, alone, so that no valid file is refused for the budget's sake.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace chexrt::app {

/// 1 GiB: eight typical 1024 x 1024 X-rays decode in 8 x 12 MB; the budget binds only on
/// images far beyond a radiograph's size.
inline constexpr int64_t kDefaultDecodeBudgetBytes = int64_t{1} << 30;

class DecodeBudget {
 public:
  explicit DecodeBudget(int64_t capacity_bytes = kDefaultDecodeBudgetBytes);
  DecodeBudget(const DecodeBudget&) = delete;
  DecodeBudget& operator=(const DecodeBudget&) = delete;

  /// Held bytes, given back when destroyed (or moved from).
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();
    int64_t bytes() const { return bytes_; }

   private:
    friend class DecodeBudget;
    Reservation(DecodeBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}
    void release();
    DecodeBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  /// Waits until `bytes` fit beside what others hold (or nothing else is held), then holds them.
  Reservation reserve(int64_t bytes);

  int64_t capacity() const { return capacity_; }
  /// The most bytes held at once so far.
  int64_t peak() const;

 private:
  void give_back(int64_t bytes);

  const int64_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int64_t held_ = 0;
  int64_t peak_ = 0;
};

}  // namespace chexrt::app
