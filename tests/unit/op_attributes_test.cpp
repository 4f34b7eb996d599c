// The typed attribute accessors of src/ir/op_attributes.h: defaults, canonical values, and
// errors that name the node and the field.
#include <gtest/gtest.h>

#include "ir/op_attributes.h"

namespace chexrt::ir {
namespace {

Node window_node(OpType op, const std::string& name, std::vector<int64_t> kernel) {
  Node node;
  node.op = op;
  node.name = name;
  node.attrs.set("kernel_shape", std::move(kernel));
  return node;
}

// The error's message names the node and the field.
void expect_error_naming(const Status& status, const std::string& node, const std::string& field) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'" + node + "'"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
}

TEST(OpAttributes, ConvDefaults) {
  const Result<ConvAttributes> a = conv_attributes(window_node(OpType::kConv, "conv0", {3, 3}));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->strides, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(a->dilations, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(a->pads, (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(a->group, 1);
  EXPECT_EQ(a->num_spatial(), 2u);
  EXPECT_FALSE(a->is_pointwise());
}

TEST(OpAttributes, ConvExplicitValues) {
  Node node = window_node(OpType::kConv, "conv1", {1, 1});
  node.attrs.set("strides", std::vector<int64_t>{1, 1});
  node.attrs.set("pads", std::vector<int64_t>{0, 0, 0, 0});
  node.attrs.set("group", int64_t{4});
  const Result<ConvAttributes> a = conv_attributes(node);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->group, 4);
  EXPECT_TRUE(a->is_pointwise());
  node.attrs.set("strides", std::vector<int64_t>{2, 2});
  EXPECT_FALSE(conv_attributes(node)->is_pointwise());
}

TEST(OpAttributes, PoolFlags) {
  Node node = window_node(OpType::kAveragePool, "pool0", {2, 2});
  node.attrs.set("strides", std::vector<int64_t>{2, 2});
  node.attrs.set("count_include_pad", int64_t{1});
  node.attrs.set("ceil_mode", int64_t{1});
  const Result<PoolAttributes> a = pool_attributes(node);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(a->average);
  EXPECT_TRUE(a->count_include_pad);
  EXPECT_TRUE(a->ceil_mode);
  EXPECT_EQ(a->storage_order, 0);
  EXPECT_FALSE(pool_attributes(window_node(OpType::kMaxPool, "pool1", {3, 3}))->average);
}

TEST(OpAttributes, BadAttributeNamesNodeAndField) {
  expect_error_naming(conv_attributes(window_node(OpType::kConv, "no_kernel", {})).status(), "no_kernel",
                      "kernel_shape");
  Node conv = window_node(OpType::kConv, "conv_bad_strides", {3, 3});
  conv.attrs.set("strides", std::vector<int64_t>{2, 2, 2});
  expect_error_naming(conv_attributes(conv).status(), "conv_bad_strides", "strides");
  conv = window_node(OpType::kConv, "conv_bad_pads", {3, 3});
  conv.attrs.set("pads", std::vector<int64_t>{1, 1});
  expect_error_naming(conv_attributes(conv).status(), "conv_bad_pads", "pads");
  conv = window_node(OpType::kConv, "conv_negative_pad", {3, 3});
  conv.attrs.set("pads", std::vector<int64_t>{1, -1, 1, 1});
  expect_error_naming(conv_attributes(conv).status(), "conv_negative_pad", "pads");
  conv = window_node(OpType::kConv, "conv_zero_dilation", {3, 3});
  conv.attrs.set("dilations", std::vector<int64_t>{0, 1});
  expect_error_naming(conv_attributes(conv).status(), "conv_zero_dilation", "dilations");
  conv = window_node(OpType::kConv, "conv_group", {3, 3});
  conv.attrs.set("group", int64_t{0});
  expect_error_naming(conv_attributes(conv).status(), "conv_group", "group");

  Node pool = window_node(OpType::kMaxPool, "pool_order", {2, 2});
  pool.attrs.set("storage_order", int64_t{2});
  expect_error_naming(pool_attributes(pool).status(), "pool_order", "storage_order");
  pool = window_node(OpType::kAveragePool, "pool_zero_kernel", {0, 2});
  expect_error_naming(pool_attributes(pool).status(), "pool_zero_kernel", "kernel_shape");
}

TEST(OpAttributes, WrongOpIsAnError) {
  expect_error_naming(conv_attributes(window_node(OpType::kMaxPool, "pool", {2, 2})).status(), "pool", "Conv");
  expect_error_naming(pool_attributes(window_node(OpType::kConv, "conv", {2, 2})).status(), "conv", "Pool");
}

}  // namespace
}  // namespace chexrt::ir
