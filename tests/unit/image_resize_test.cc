// Vision preprocessing sizes against spec/gemma4-io.md §4.2's worked table, and the bicubic
// resize against PIL's Image.resize(BICUBIC) run at test time on the same pixels.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "media/image_resize.h"
#include "media_test_util.h"

namespace g4 {
namespace {

using media_test::ErrorText;

struct WorkedSize {
  int height, width;
  int budget;
  int out_height, out_width, tokens;
};

// §4.2 "Worked numbers (H×W → resized → tokens)", every cell.
const std::vector<WorkedSize> kWorkedTable = {
    {224, 224, 70, 384, 384, 64},       {224, 224, 140, 528, 528, 121},
    {224, 224, 280, 768, 768, 256},     {224, 224, 560, 1104, 1104, 529},
    {224, 224, 1120, 1584, 1584, 1089}, {480, 640, 70, 336, 432, 63},
    {480, 640, 140, 480, 624, 130},     {480, 640, 280, 672, 912, 266},
    {480, 640, 560, 960, 1296, 540},    {480, 640, 1120, 1344, 1824, 1064},
    {1080, 1920, 70, 288, 528, 66},     {1080, 1920, 140, 384, 720, 120},
    {1080, 1920, 280, 576, 1056, 264},  {1080, 1920, 560, 816, 1488, 527},
    {1080, 1920, 1120, 1200, 2112, 1100}, {100, 2000, 70, 48, 1776, 37},
    {100, 2000, 140, 96, 2496, 104},    {100, 2000, 280, 144, 3552, 222},
    {100, 2000, 560, 240, 5040, 525},   {100, 2000, 1120, 336, 7152, 1043},
};

TEST(VisionInputSize, MatchesEveryCellOfTheWorkedTable) {
  for (const WorkedSize& w : kWorkedTable) {
    const ImageSize size = VisionInputSize(w.width, w.height, w.budget);
    EXPECT_EQ(size.height, w.out_height) << w.height << "x" << w.width << " @" << w.budget;
    EXPECT_EQ(size.width, w.out_width) << w.height << "x" << w.width << " @" << w.budget;
    EXPECT_EQ((size.height / 48) * (size.width / 48), w.tokens) << w.height << "x" << w.width << " @" << w.budget;
    EXPECT_LE((size.height / 48) * (size.width / 48), w.budget);
  }
}

TEST(VisionInputSize, SquareImagesOfAnySizeGetTheSameSize) {
  for (int side : {1, 17, 224, 768, 5000}) {
    const ImageSize size = VisionInputSize(side, side, 280);
    EXPECT_EQ(size.width, 768) << side;
    EXPECT_EQ(size.height, 768) << side;
  }
}

TEST(VisionInputSize, GoldenReadmeHfColumn) {
  // golden/multimodal/README.md "HF (budget 280)" column, width x height.
  EXPECT_EQ(VisionInputSize(64, 64, 280).width, 768);
  const ImageSize a = VisionInputSize(300, 200, 280);
  EXPECT_EQ(a.width, 960);
  EXPECT_EQ(a.height, 624);
  const ImageSize b = VisionInputSize(517, 1023, 280);
  EXPECT_EQ(b.width, 528);
  EXPECT_EQ(b.height, 1104);
}

TEST(VisionInputSize, ThinImagesGetOneRowOfPatches) {
  // 10000 x 1 at 280 tokens: factor·H rounds to 0 rows, so H' = 48 and
  // W' = min(floor(W/H)·48, 280·48) = 13440 (the whole budget in one row).
  ImageSize wide = VisionInputSize(10000, 1, 280);
  EXPECT_EQ(wide.height, 48);
  EXPECT_EQ(wide.width, 280 * 48);
  // 1 x 200 at 70 tokens: W' = 48, H' = min(200·48, 70·48) = 3360.
  ImageSize tall = VisionInputSize(1, 200, 70);
  EXPECT_EQ(tall.width, 48);
  EXPECT_EQ(tall.height, 70 * 48);
  // A degenerate side needs an aspect ratio above the budget, so the cap always binds: 71 x 1 at
  // 70 is degenerate (3360 x 48); 70 x 1 sits exactly on the edge (factor·H = 48) and is not,
  // yet lands on the same size.
  ImageSize edge_over = VisionInputSize(71, 1, 70);
  EXPECT_EQ(edge_over.width, 3360);
  EXPECT_EQ(edge_over.height, 48);
  ImageSize edge = VisionInputSize(70, 1, 70);
  EXPECT_EQ(edge.width, 3360);
  EXPECT_EQ(edge.height, 48);
}

TEST(VisionInputSize, RejectsBudgetsOutsideTheAcceptedSet) {
  for (int budget : {0, -280, 69, 71, 100, 279, 281, 2240}) {
    EXPECT_FALSE(IsImageTokenBudget(budget));
    const std::string message = ErrorText([&] { VisionInputSize(224, 224, budget); });
    EXPECT_NE(message.find(std::to_string(budget)), std::string::npos) << message;
    EXPECT_NE(message.find("70, 140, 280, 560, 1120"), std::string::npos) << message;
  }
  for (int budget : {70, 140, 280, 560, 1120}) EXPECT_TRUE(IsImageTokenBudget(budget));
  EXPECT_NE(ErrorText([] { VisionInputSize(0, 10, 280); }).find("0x10"), std::string::npos);
}

// Our resize and PIL's on the same pixels, exact to the byte.
void ExpectSameAsPil(int width, int height, int out_width, int out_height) {
  const Image source = media_test::PatternImage(width, height);
  const std::string in = media_test::TempPath(".rgb");
  const std::string out = media_test::TempPath(".rgb");
  media_test::WriteBytes(in, source.rgb.data(), source.rgb.size());
  media_test::RunCommand(media_test::kPython + " " + media_test::Quote(media_test::kPilOracle) + " resize " + in + " " +
                  std::to_string(width) + " " + std::to_string(height) + " " + std::to_string(out_width) + " " +
                  std::to_string(out_height) + " " + out);
  Image expected;
  expected.width = out_width;
  expected.height = out_height;
  expected.rgb = media_test::ReadBytes(out);
  ASSERT_EQ(expected.rgb.size(), static_cast<size_t>(out_width) * out_height * 3);
  const Image ours = ResizeBicubic(source, out_width, out_height);
  ASSERT_EQ(ours.width, out_width);
  ASSERT_EQ(ours.height, out_height);
  EXPECT_EQ(media_test::MaxPixelDifference(ours, expected), 0)
      << width << "x" << height << " -> " << out_width << "x" << out_height;
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST(ResizeBicubic, MatchesPilExactlyUpAndDownIncludingOddSizes) {
  const std::vector<std::tuple<int, int, int, int>> cases = {
      {64, 64, 768, 768},    // upscale 12x (golden img_64x64, HF size)
      {300, 200, 960, 624},  // upscale, aspect changes slightly
      {517, 1023, 528, 1104},
      {1023, 517, 97, 45},   // strong odd downscale: support widens to ~11 taps
      {640, 480, 432, 336},  // mild downscale (4:3 at 70 tokens)
      {31, 7, 5, 3},         // tiny odd sizes
      {1, 1, 48, 48},        // single pixel
      {250, 250, 250, 97},   // height only
      {250, 250, 73, 250},   // width only
      {9, 400, 48, 96},      // up in x, down in y
  };
  for (const auto& [w, h, ow, oh] : cases) ExpectSameAsPil(w, h, ow, oh);
}

TEST(ResizeBicubic, KeepsTheImageWhenTheSizeMatches) {
  const Image source = media_test::PatternImage(96, 48);
  const Image same = ResizeBicubic(source, 96, 48);
  EXPECT_EQ(same.rgb, source.rgb);
  const Image prepared = PrepareImageForVision(media_test::PatternImage(768, 768), 280);
  EXPECT_EQ(prepared.rgb, media_test::PatternImage(768, 768).rgb);
}

TEST(ResizeBicubic, RejectsEmptyAndOversizedTargets) {
  const Image source = media_test::PatternImage(8, 8);
  EXPECT_NE(ErrorText([&] { ResizeBicubic(source, 0, 5); }).find("0x5"), std::string::npos);
  EXPECT_NE(ErrorText([&] { ResizeBicubic(source, 100000, 100000); }).find("100000x100000"), std::string::npos);
  EXPECT_NE(ErrorText([&] { ResizeBicubic(Image{}, 5, 5); }).find("empty"), std::string::npos);
}

TEST(PrepareImageForVision, ResizesToTheBudgetSize) {
  const Image prepared = PrepareImageForVision(media_test::PatternImage(300, 200), 280);
  EXPECT_EQ(prepared.width, 960);
  EXPECT_EQ(prepared.height, 624);
  EXPECT_EQ(prepared.rgb, ResizeBicubic(media_test::PatternImage(300, 200), 960, 624).rgb);
  EXPECT_NE(ErrorText([] { PrepareImageForVision(media_test::PatternImage(4, 4), 300); }).find("300"),
            std::string::npos);
}

}  // namespace
}  // namespace g4
