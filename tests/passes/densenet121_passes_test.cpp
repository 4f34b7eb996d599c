// The passes on the real thing: DenseNet-121 with CheXNet's head as torchvision exports it to
// ONNX (models/generated, made by scripts/make_reference_model.py). The optimized graph must
// give the imported graph's outputs, every Concat must be planned in place with one buffer per
// dense block, and the engine file must carry it unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "builder/concat_plan.h"
#include "chexrt/onnx_parser.h"
#include "engine/engine_file.h"
#include "ir/dump.h"
#include "pass_test_util.h"
#include "passes/pass_manager.h"

namespace chexrt {
namespace {

constexpr const char* kModel = CHEXRT_GENERATED_DIR "/densenet121_chexnet_seeded.onnx";

TEST(DenseNet121, OptimizedGraphKeepsOutputsAndNeedsNoConcatCopy) {
  if (!std::filesystem::exists(kModel)) {
    GTEST_SKIP() << kModel << " is missing: run scripts/make_reference_model.py";
  }
  auto net = parse_onnx_file(kModel);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const ir::Graph imported = net->graph();
  ir::Graph g = imported;
  auto log = passes::optimize(g);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  test::expect_same_outputs(imported, g, 1);

  const std::map<std::string, int> ops = test::op_counts(g);
  EXPECT_EQ(ops.count("BatchNormalization"), 0u);
  EXPECT_EQ(ops.count("Relu"), 0u);
  EXPECT_EQ(ops.count("Identity"), 0u);
  EXPECT_EQ(ops.at("ClassifierHead"), 1);
  EXPECT_EQ(ops.at("Conv"), 120);
  // 58 dense layers' norm1, 3 transitions' norm and norm5: the batch norms after a Concat.
  EXPECT_EQ(ops.at("ChannelAffine"), 58 + 3 + 1);
  // The three transitions pool before their 1x1 conv: 4x fewer FLOPs in those convs.
  EXPECT_LT(ir::summarize(g).flops, ir::summarize(imported).flops);

  const builder::ConcatPlan plan =
      builder::plan_concat_elimination(g, [](const ir::Graph&, const ir::Node&) { return true; });
  std::set<int> roots;
  int concats = 0;
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (g.node(n).op != ir::OpType::kConcat) continue;
    ++concats;
    EXPECT_TRUE(plan.concat_in_place[n]) << g.node(n).name;
    roots.insert(plan.storage[g.node(n).outputs[0]]);
  }
  EXPECT_EQ(concats, 58 + 4);  // one per dense layer, one per block output
  EXPECT_EQ(roots.size(), 4u) << "one buffer per dense block";

  engine::EngineFile file;
  file.graph = g;
  auto bytes = engine::serialize_engine(file);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  auto back = engine::parse_engine(*bytes, "densenet121.engine");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(ir::dump(back->graph), ir::dump(g));
}

}  // namespace
}  // namespace chexrt
