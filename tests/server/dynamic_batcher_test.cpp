// The dynamic batcher against a fake engine whose outputs are a function of its inputs: every
// request gets its own rows back, in order, exactly once, whatever batches it was combined into
// or split over; a full queue refuses at once; deadlines and shutdown answer what is queued.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <random>
#include <stdexcept>

#include "fake_engine.h"
#include "server/dynamic_batcher.h"

namespace chexrt::server {
namespace {

using testing::FakeEngine;
using namespace std::chrono_literals;

constexpr int64_t kWidth = 3;

// `rows` rows whose values start at `first` and count up.
HostTensor rows_from(float first, int64_t rows) {
  HostTensor t(DataType::kFloat32, {rows, kWidth});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = first + static_cast<float>(i);
  return t;
}

void expect_rows(const HostTensor& out, float first, int64_t rows) {
  ASSERT_EQ(out.dims(), (Dims{rows, kWidth}));
  for (int64_t i = 0; i < out.numel(); ++i) ASSERT_EQ(out.data<float>()[i], 2 * (first + i) + 1) << "element " << i;
}

struct Answer {
  std::promise<Result<BatchOutcome>> promise;
  std::future<Result<BatchOutcome>> future = promise.get_future();
  std::atomic<int> calls{0};
};

Status submit(DynamicBatcher& b, HostTensor t, Answer& answer, Clock::time_point deadline = Clock::time_point::max()) {
  BatchWork work;
  work.tensor = std::move(t);
  work.deadline = deadline;
  return b.submit(std::move(work), [&answer](Result<BatchOutcome> r) {
    if (answer.calls.fetch_add(1) == 0) answer.promise.set_value(std::move(r));
  });
}

std::unique_ptr<DynamicBatcher> make(std::vector<std::shared_ptr<Engine>> engines, BatcherOptions options) {
  auto b = DynamicBatcher::create(std::move(engines), std::move(options), nullptr);
  if (!b.ok()) throw std::runtime_error(b.status().to_string());  // fails the test that called it
  return std::move(b).value();
}

TEST(DynamicBatcher, OneRequestGetsItsRows) {
  auto engine = std::make_shared<FakeEngine>(8, kWidth);
  auto b = make({engine}, {});
  Answer a;
  ASSERT_TRUE(submit(*b, rows_from(5, 3), a).ok());
  auto r = a.future.get();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  expect_rows(r->outputs[0], 5, 3);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{3}));
}

TEST(DynamicBatcher, CombinesRequestsThatWaitWhileTheEngineRuns) {
  auto engine = std::make_shared<FakeEngine>(8, kWidth);
  auto b = make({engine}, {});
  engine->close();
  Answer first, second, third, fourth;
  ASSERT_TRUE(submit(*b, rows_from(0, 1), first).ok());
  engine->wait_for_calls(1);  // the first runs alone; the others queue behind it
  ASSERT_TRUE(submit(*b, rows_from(100, 2), second).ok());
  ASSERT_TRUE(submit(*b, rows_from(200, 1), third).ok());
  ASSERT_TRUE(submit(*b, rows_from(300, 3), fourth).ok());
  engine->open();
  expect_rows(first.future.get()->outputs[0], 0, 1);
  expect_rows(second.future.get()->outputs[0], 100, 2);
  expect_rows(third.future.get()->outputs[0], 200, 1);
  expect_rows(fourth.future.get()->outputs[0], 300, 3);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{1, 6}));
}

// float16 rows (for engines that take them) and float32 rows queued together: each batch holds
// one dtype, and every request still gets its own rows.
TEST(DynamicBatcher, Float16AndFloat32RequestsNeverShareABatch) {
  auto engine = std::make_shared<FakeEngine>(8, kWidth);
  engine->set_accepts_fp16(true);
  auto b = make({engine}, {});
  auto half_rows = [](float first, int64_t rows) {
    HostTensor t(DataType::kFloat16, {rows, kWidth});
    for (int64_t i = 0; i < t.numel(); ++i) t.data<uint16_t>()[i] = float_to_half(first + static_cast<float>(i));
    return t;
  };
  engine->close();
  Answer first, second, third, fourth;
  ASSERT_TRUE(submit(*b, rows_from(0, 1), first).ok());
  engine->wait_for_calls(1);
  ASSERT_TRUE(submit(*b, half_rows(100, 2), second).ok());
  ASSERT_TRUE(submit(*b, rows_from(200, 1), third).ok());
  ASSERT_TRUE(submit(*b, half_rows(300, 3), fourth).ok());
  engine->open();
  expect_rows(first.future.get()->outputs[0], 0, 1);
  expect_rows(second.future.get()->outputs[0], 100, 2);  // small integers: exact in float16
  expect_rows(third.future.get()->outputs[0], 200, 1);
  expect_rows(fourth.future.get()->outputs[0], 300, 3);
  // The first runs alone; then the float16 head takes the other float16 request with it, and the
  // float32 one it passed over runs last.
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{1, 5, 1}));
  EXPECT_EQ(engine->input_dtypes(),
            (std::vector<DataType>{DataType::kFloat32, DataType::kFloat16, DataType::kFloat32}));
}

TEST(DynamicBatcher, SplitsARequestLargerThanABatch) {
  auto engine = std::make_shared<FakeEngine>(4, kWidth);
  BatcherOptions options;
  options.max_batch = 4;
  auto b = make({engine}, options);
  engine->close();
  Answer small, large;
  ASSERT_TRUE(submit(*b, rows_from(-7, 1), small).ok());
  engine->wait_for_calls(1);
  ASSERT_TRUE(submit(*b, rows_from(0, 10), large).ok());
  engine->open();
  expect_rows(small.future.get()->outputs[0], -7, 1);
  auto r = large.future.get();
  ASSERT_TRUE(r.ok());
  expect_rows(r->outputs[0], 0, 10);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{1, 4, 4, 2}));
  EXPECT_EQ(large.calls.load(), 1);
}

TEST(DynamicBatcher, ManyClientsOnTwoInstancesEachGetTheirOwnRowsOnce) {
  auto e0 = std::make_shared<FakeEngine>(8, kWidth);
  auto e1 = std::make_shared<FakeEngine>(8, kWidth);
  e0->set_delay(200us);
  e1->set_delay(200us);
  BatcherOptions options;
  options.max_queue = 1000;
  options.max_queue_delay = 100us;
  auto b = make({e0, e1}, options);
  constexpr int kClients = 8, kRequests = 40;
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0}, answered{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(c);
      for (int i = 0; i < kRequests; ++i) {
        const int64_t rows = 1 + rng() % 11;  // some above the max batch: split
        const float first = static_cast<float>((c * kRequests + i) * 1000);
        Answer a;
        if (!submit(*b, rows_from(first, rows), a).ok()) {
          ++wrong;
          continue;
        }
        auto r = a.future.get();
        ++answered;
        if (!r.ok() || r->outputs[0].dims() != Dims{rows, kWidth}) {
          ++wrong;
          continue;
        }
        for (int64_t k = 0; k < r->outputs[0].numel(); ++k) {
          if (r->outputs[0].data<float>()[k] != 2 * (first + k) + 1) {
            ++wrong;
            break;
          }
        }
        std::this_thread::sleep_for(50us);
        if (a.calls.load() != 1) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  b->shutdown();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(answered.load(), kClients * kRequests);
  // Both instances worked, and some batches combined requests.
  EXPECT_FALSE(e0->batch_sizes().empty());
  EXPECT_FALSE(e1->batch_sizes().empty());
  for (const auto& e : {e0, e1}) {
    for (int64_t size : e->batch_sizes()) EXPECT_LE(size, 8);
  }
}

TEST(DynamicBatcher, FullQueueRefusesAtOnceAndGrowsNoFurther) {
  auto engine = std::make_shared<FakeEngine>(1, kWidth);
  BatcherOptions options;
  options.max_batch = 1;
  options.max_queue = 2;
  auto b = make({engine}, options);
  engine->close();
  Answer running, queued1, queued2, refused;
  ASSERT_TRUE(submit(*b, rows_from(0, 1), running).ok());
  engine->wait_for_calls(1);
  ASSERT_TRUE(submit(*b, rows_from(10, 1), queued1).ok());
  ASSERT_TRUE(submit(*b, rows_from(20, 1), queued2).ok());
  Status full = submit(*b, rows_from(30, 1), refused);
  EXPECT_EQ(full.code(), StatusCode::kUnavailable) << full.to_string();
  EXPECT_NE(full.message().find("queue is full"), std::string::npos);
  EXPECT_EQ(b->queue_depth(), 2u);
  engine->open();
  expect_rows(running.future.get()->outputs[0], 0, 1);
  expect_rows(queued1.future.get()->outputs[0], 10, 1);
  expect_rows(queued2.future.get()->outputs[0], 20, 1);
  EXPECT_EQ(refused.calls.load(), 0);
}

TEST(DynamicBatcher, RequestQueuedPastItsDeadlineIsDeadlineExceeded) {
  auto engine = std::make_shared<FakeEngine>(8, kWidth);
  auto b = make({engine}, {});
  engine->close();
  Answer running, late;
  ASSERT_TRUE(submit(*b, rows_from(0, 1), running).ok());
  engine->wait_for_calls(1);
  ASSERT_TRUE(submit(*b, rows_from(1, 1), late, Clock::now() + 20ms).ok());
  std::this_thread::sleep_for(40ms);
  engine->open();
  ASSERT_TRUE(running.future.get().ok());
  auto r = late.future.get();
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().to_string();
  b->shutdown();
  EXPECT_EQ(late.calls.load(), 1);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{1}));  // the late one never ran
}

TEST(DynamicBatcher, ShutdownRefusesNewWorkAndAnswersEverythingQueued) {
  auto engine = std::make_shared<FakeEngine>(2, kWidth);
  BatcherOptions options;
  options.max_batch = 2;
  auto b = make({engine}, options);
  engine->close();
  std::vector<std::unique_ptr<Answer>> answers;
  for (int i = 0; i < 5; ++i) {
    answers.push_back(std::make_unique<Answer>());
    ASSERT_TRUE(submit(*b, rows_from(i * 10.f, 1), *answers.back()).ok());
    if (i == 0) engine->wait_for_calls(1);
  }
  std::thread stopper([&] { b->shutdown(); });
  // shutdown() waits for the queue; new work is refused meanwhile (work that got in before the
  // shutdown began is answered like the rest).
  Status refused;
  std::vector<std::unique_ptr<Answer>> early;
  for (int tries = 0; tries < 1000; ++tries) {
    early.push_back(std::make_unique<Answer>());
    refused = submit(*b, rows_from(99, 1), *early.back());
    if (!refused.ok()) break;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  engine->open();
  stopper.join();
  for (int i = 0; i < 5; ++i) {
    auto r = answers[i]->future.get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    expect_rows(r->outputs[0], i * 10.f, 1);
  }
  early.pop_back();  // the refused one
  for (auto& a : early) EXPECT_TRUE(a->future.get().ok());
}

TEST(DynamicBatcher, FullBatchOrPreferredSizeStartsWithoutWaitingForTheDelay) {
  auto engine = std::make_shared<FakeEngine>(4, kWidth);
  BatcherOptions options;
  options.max_batch = 4;
  options.max_queue_delay = std::chrono::seconds(30);
  options.preferred_batch_sizes = {2};
  auto b = make({engine}, options);
  Answer a, c;
  ASSERT_TRUE(submit(*b, rows_from(0, 1), a).ok());
  // One sample waits for the delay (30 s); a second makes the preferred size of 2.
  EXPECT_EQ(a.future.wait_for(50ms), std::future_status::timeout);
  ASSERT_TRUE(submit(*b, rows_from(10, 1), c).ok());
  ASSERT_EQ(a.future.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(c.future.wait_for(10s), std::future_status::ready);
  expect_rows(a.future.get()->outputs[0], 0, 1);
  expect_rows(c.future.get()->outputs[0], 10, 1);
  Answer full;
  ASSERT_TRUE(submit(*b, rows_from(20, 4), full).ok());  // a full batch
  ASSERT_EQ(full.future.wait_for(10s), std::future_status::ready);
  Answer last;
  ASSERT_TRUE(submit(*b, rows_from(30, 1), last).ok());
  b->shutdown();  // shutting down runs what waits at once
  ASSERT_EQ(last.future.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{2, 4, 1}));
}

TEST(DynamicBatcher, EngineErrorFailsEveryRequestOfTheBatch) {
  auto engine = std::make_shared<FakeEngine>(8, kWidth);
  auto b = make({engine}, {});
  engine->set_fail(true);
  Answer a;
  ASSERT_TRUE(submit(*b, rows_from(0, 2), a).ok());
  auto r = a.future.get();
  EXPECT_EQ(r.status().code(), StatusCode::kRuntimeError);
  EXPECT_NE(r.status().message().find("fake engine failure"), std::string::npos);
}

TEST(DynamicBatcher, ImagesAreBatchedWithTheirPreprocessingAndComeBackInOrder) {
  // Input [N, 3, 4, 4]: images resized and cropped to 4x4 by Engine::infer_images.
  auto engine = std::make_shared<FakeEngine>(8, 0, Dims{3, 4, 4});
  auto oracle = std::make_shared<FakeEngine>(8, 0, Dims{3, 4, 4});
  auto b = make({engine}, {});
  PreprocessOptions preprocess;
  preprocess.resize_size = 4;
  preprocess.crop_size = 4;
  std::vector<Image8> images;
  for (int i = 0; i < 5; ++i) {
    Image8 img{6 + i, 5, 1, {}};
    for (int p = 0; p < img.width * img.height; ++p) img.pixels.push_back(static_cast<uint8_t>(i * 40 + p));
    images.push_back(std::move(img));
  }
  engine->close();
  std::vector<std::unique_ptr<Answer>> answers;
  for (int i = 0; i < 5; i += (i == 0 ? 1 : 2)) {
    BatchWork work;
    work.preprocess = preprocess;
    for (int k = i; k < std::min(5, i + (i == 0 ? 1 : 2)); ++k) work.images.push_back(view_of(images[k]));
    answers.push_back(std::make_unique<Answer>());
    Answer* answer = answers.back().get();
    ASSERT_TRUE(
        b->submit(std::move(work), [answer](Result<BatchOutcome> r) { answer->promise.set_value(std::move(r)); }).ok());
    if (i == 0) engine->wait_for_calls(1);
  }
  engine->open();
  int image = 0;
  for (auto& answer : answers) {
    auto r = answer->future.get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    for (int64_t row = 0; row < r->outputs[0].dims()[0]; ++row, ++image) {
      std::vector<HostTensor> expected;
      ASSERT_TRUE(oracle->infer_images({view_of(images[image])}, preprocess, &expected).ok());
      const int64_t n = expected[0].numel();
      for (int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(r->outputs[0].data<float>()[row * n + k], expected[0].data<float>()[k]) << "image " << image;
      }
    }
  }
  EXPECT_EQ(image, 5);
  EXPECT_EQ(engine->batch_sizes(), (std::vector<int64_t>{1, 4}));
}

TEST(DynamicBatcher, RefusesWorkThatCannotFitABatch) {
  auto engine = std::make_shared<FakeEngine>(4, 0, Dims{3, 4, 4});
  BatcherOptions options;
  options.max_batch = 4;
  auto b = make({engine}, options);
  Image8 img{8, 8, 1, std::vector<uint8_t>(64, 1)};
  BatchWork work;
  work.images = {view_of(img)};
  work.preprocess.mode = ResizeMode::kTenCrop;
  work.preprocess.resize_size = 4;
  work.preprocess.crop_size = 4;
  Status s = b->submit(std::move(work), [](Result<BatchOutcome>) { ADD_FAILURE() << "called"; });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("10 samples"), std::string::npos) << s.message();
  EXPECT_EQ(b->submit(BatchWork{}, [](Result<BatchOutcome>) {}).code(), StatusCode::kInvalidArgument);
  auto too_large = DynamicBatcher::create({engine}, BatcherOptions{8, {}, {}, 4}, nullptr);
  EXPECT_EQ(too_large.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt::server
