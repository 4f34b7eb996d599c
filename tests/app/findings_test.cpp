#include "app/findings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_support.h"

namespace chexrt::app {
namespace {

TEST(Findings, OrderMatchesTheReferencePredictionColumns) {
  // The CSV of CheXNet outputs lists its columns in the model's output order.
  std::ifstream csv(testing::test_data("cxr/chexnet_reference_predictions.csv"));
  std::string header;
  ASSERT_TRUE(std::getline(csv, header));
  if (!header.empty() && header.back() == '\r') header.pop_back();  // the file has CRLF line ends
  std::istringstream columns(header);
  std::vector<std::string> names;
  for (std::string column; std::getline(columns, column, ',');) names.push_back(column);
  ASSERT_EQ(names.size(), static_cast<size_t>(kNumFindings + 1));
  for (int k = 0; k < kNumFindings; ++k) EXPECT_EQ(kFindingNames[k], names[k + 1]) << "output " << k;
}

TEST(Findings, LookupIgnoresCaseAndSpaces) {
  EXPECT_EQ(finding_index("Pneumonia").value(), 6);
  EXPECT_EQ(finding_index("PNEUMONIA").value(), 6);
  EXPECT_EQ(finding_index("pleural thickening").value(), 12);
  EXPECT_EQ(finding_index("Hernia").value(), 13);
  Result<int> unknown = finding_index("Fracture");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("'Fracture'"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("Atelectasis, Cardiomegaly"), std::string::npos);
}

}  // namespace
}  // namespace chexrt::app
