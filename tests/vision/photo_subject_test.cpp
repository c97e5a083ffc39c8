// Which face is a photo's subject, on face boxes alone: the largest by far, or the one in the middle
// among faces of a like size, or nobody can tell.
#include "vision/photo_subject.hpp"

#include <gtest/gtest.h>

using namespace caregate::vision;

namespace {
DetectedFace at(int cx, int cy, int w, int h = 0) {
    DetectedFace f;
    f.box = cv::Rect(cx - w / 2, cy - (h ? h : w) / 2, w, h ? h : w);
    return f;
}
const cv::Size kPhoto(1000, 800);  // centre line x = 500; 15 % of the width is 150
}  // namespace

TEST(PhotoSubject, OneFaceOrTheLargestByFar) {
    EXPECT_FALSE(choose_subject({}, kPhoto).index);
    auto one = choose_subject({at(100, 100, 120)}, kPhoto);
    ASSERT_TRUE(one.index);
    EXPECT_EQ(*one.index, 0u);
    EXPECT_EQ(one.others, 0u);
    EXPECT_FALSE(one.by_centre);
    // A passer-by with less than 1/2.5 of the area, even in the middle, is left out.
    auto by_far = choose_subject({at(500, 400, 60), at(150, 200, 100)}, kPhoto);  // areas 3600, 10000
    ASSERT_TRUE(by_far.index);
    EXPECT_EQ(*by_far.index, 1u);
    EXPECT_EQ(by_far.others, 1u);
    EXPECT_FALSE(by_far.by_centre);
}

TEST(PhotoSubject, AmongFacesOfALikeSizeTheOneClearlyInTheMiddle) {
    // A daughter beside the elder, as large: the elder in the middle is the subject, even with her
    // face above the middle of the picture, as in most portraits.
    auto s = choose_subject({at(150, 380, 130), at(520, 150, 120)}, kPhoto);
    ASSERT_TRUE(s.index);
    EXPECT_EQ(*s.index, 1u);
    EXPECT_TRUE(s.by_centre);
    EXPECT_EQ(s.others, 1u);
    // Two people side by side around the middle: which is the elder? Nobody can tell.
    EXPECT_FALSE(choose_subject({at(400, 400, 120), at(600, 400, 120)}, kPhoto).index);
    // The nearer one is not in the middle (160 px off, more than 150).
    EXPECT_FALSE(choose_subject({at(660, 400, 120), at(100, 400, 120)}, kPhoto).index);
    // In the middle, but the other is not twice as far (100 vs 150).
    EXPECT_FALSE(choose_subject({at(600, 400, 120), at(350, 400, 120)}, kPhoto).index);
    // One above the other (a child held up): both on the centre line, nobody can tell.
    EXPECT_FALSE(choose_subject({at(500, 200, 120), at(510, 500, 120)}, kPhoto).index);
    // Exactly 1/2.5 of the area (10,000 against 25,000) is a like size; just below is not.
    auto exact = choose_subject({at(500, 400, 100, 100), at(100, 100, 250, 100)}, kPhoto);
    EXPECT_TRUE(exact.by_centre);
    EXPECT_EQ(exact.like_size, 2u);
    auto below = choose_subject({at(500, 400, 99, 100), at(100, 100, 250, 100)}, kPhoto);
    ASSERT_TRUE(below.index);
    EXPECT_EQ(*below.index, 1u);
    EXPECT_FALSE(below.by_centre);
    EXPECT_EQ(below.like_size, 1u);
}
