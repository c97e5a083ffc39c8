// face eval on synthetic descriptors whose answers are known: exact distances (binary fractions),
// hand-computed EER / TAR / open-set outcomes, the ROC plot and identity naming. No models.
#include "vision/face_eval.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "vision/face_calibration.hpp"
#include "vision/face_net.hpp"
#include "vision/gallery.hpp"

using namespace caregate::vision;
namespace fs = std::filesystem;

namespace {

EvalSample S(const std::string& file, const std::string& id, std::vector<float> d,
             const std::string& group = "") {
    EvalSample s;
    s.file = file, s.identity = id, s.group = group, s.descriptor = std::move(d);
    return s;
}

EvalSample failed(const std::string& file, const std::string& id, const std::string& reason) {
    EvalSample s;
    s.file = file, s.identity = id, s.reject_reason = reason;
    return s;
}

// Identity k at (10k, 0, 0, 0), its photo j offset by 0.125 j on the second axis: genuine distances
// 0.125..0.375, impostor distances >= 10.
std::vector<EvalSample> separated(int identities, int photos, const std::string& group = "") {
    std::vector<EvalSample> v;
    for (int k = 0; k < identities; ++k)
        for (int j = 0; j < photos; ++j)
            v.push_back(S(group + "p" + std::to_string(k) + "_" + std::to_string(j + 1) + ".jpg",
                          group + "p" + std::to_string(k), {10.0f * float(k), 0.125f * float(j), 0, 0},
                          group));
    return v;
}

// 1-D, exact in binary: genuine {2, 2.5}, impostor {0.5, 2.5, 3, 5}.
std::vector<EvalSample> tiny() {
    return {S("a_1.jpg", "a", {0}), S("a_2.jpg", "a", {2}), S("b_1.jpg", "b", {2.5}), S("b_2.jpg", "b", {5})};
}

// Elders a (near 0) and b (near 10), three photos each; stranger s: one photo near a, one far off.
std::pair<std::vector<EvalSample>, EvalOptions> two_elders_and_a_stranger() {
    std::vector<EvalSample> v = {S("a_1.jpg", "a", {0}),      S("a_2.jpg", "a", {0.125}),
                                 S("a_3.jpg", "a", {0.0625}), S("b_1.jpg", "b", {10}),
                                 S("b_2.jpg", "b", {10.25}),  S("b_3.jpg", "b", {10.5}),
                                 S("s_1.jpg", "s", {0.375}),  S("s_2.jpg", "s", {5})};
    EvalOptions o;
    o.strangers = {"s"};
    return {v, o};
}

EvalOptions tiny_options() {
    EvalOptions o;
    o.threshold = 2.5, o.margin = 0, o.enroll_per_identity = 1, o.stranger_fraction = 0;
    return o;
}

fs::path temp_file(const std::string& name) {
    return fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(FaceEval, WellSeparatedClustersAreFlawless) {
    EvalOptions o;  // threshold 0.6, margin 0.05, 2 enrolled photos, 40 % strangers
    EvalReport r = evaluate(separated(5, 4), o);
    EXPECT_EQ(r.samples, 20u);
    EXPECT_EQ(r.with_descriptor, 20u);
    EXPECT_EQ(r.identities, 5u);
    const PairMetrics& p = r.pairs;
    EXPECT_EQ(p.genuine.count, 30u);
    EXPECT_EQ(p.impostor.count, 160u);
    EXPECT_DOUBLE_EQ(p.genuine.min, 0.125);
    EXPECT_DOUBLE_EQ(p.genuine.max, 0.375);
    EXPECT_DOUBLE_EQ(p.impostor.min, 10.0);
    ASSERT_TRUE(p.eer);
    EXPECT_DOUBLE_EQ(*p.eer, 0.0);
    EXPECT_DOUBLE_EQ(*p.eer_threshold, 0.375);
    ASSERT_EQ(p.tar_at_far.size(), 3u);
    EXPECT_DOUBLE_EQ(p.tar_at_far[0].far, 0.01);
    ASSERT_TRUE(p.tar_at_far[0].tar);
    EXPECT_DOUBLE_EQ(*p.tar_at_far[0].tar, 1.0);
    EXPECT_DOUBLE_EQ(*p.tar_at_far[0].threshold, 0.375);
    EXPECT_FALSE(p.tar_at_far[1].tar);
    EXPECT_EQ(p.tar_at_far[1].note, "not enough impostor pairs (need 1000, have 160)");
    EXPECT_EQ(p.tar_at_far[2].note, "not enough impostor pairs (need 10000, have 160)");
    EXPECT_DOUBLE_EQ(*p.tar_at_zero_far.tar, 1.0);
    EXPECT_DOUBLE_EQ(*p.far_at_threshold, 0.0);
    EXPECT_DOUBLE_EQ(*p.frr_at_threshold, 0.0);
    // ROC: 15 / 10 / 5 genuine pairs at 0.125 / 0.25 / 0.375, before any impostor.
    ASSERT_GE(p.roc.size(), 4u);
    EXPECT_DOUBLE_EQ(p.roc[0].far, 0.0);
    EXPECT_DOUBLE_EQ(p.roc[0].tar, 0.5);
    EXPECT_DOUBLE_EQ(p.roc[2].tar, 1.0);
    EXPECT_DOUBLE_EQ(p.roc[2].threshold, 0.375);
    EXPECT_DOUBLE_EQ(p.roc.back().far, 1.0);

    const OpenSetCounts& c = r.open_set.counts;
    EXPECT_EQ(r.open_set.strangers.size(), 2u);  // round(0.4 × 5)
    EXPECT_EQ(r.open_set.enrolled.size(), 3u);
    EXPECT_EQ(r.open_set.templates, 6u);
    EXPECT_EQ(c.genuine_probes, 6u);
    EXPECT_EQ(c.correct, 6u);
    EXPECT_EQ(c.wrong_identity + c.rejected, 0u);
    EXPECT_EQ(c.stranger_probes, 8u);
    EXPECT_EQ(c.strangers_rejected, 8u);
    EXPECT_EQ(c.strangers_accepted, 0u);
    EXPECT_TRUE(r.open_set.not_enrollable.empty());
    EXPECT_TRUE(r.groups.empty());
}

TEST(FaceEval, HandComputedTinyCase) {
    EvalReport r = evaluate(tiny(), tiny_options());
    const PairMetrics& p = r.pairs;
    EXPECT_EQ(p.genuine.count, 2u);
    EXPECT_DOUBLE_EQ(p.genuine.min, 2.0);
    EXPECT_DOUBLE_EQ(p.genuine.p5, 2.025);
    EXPECT_DOUBLE_EQ(p.genuine.median, 2.25);
    EXPECT_DOUBLE_EQ(p.genuine.p95, 2.475);
    EXPECT_DOUBLE_EQ(p.genuine.max, 2.5);
    EXPECT_EQ(p.impostor.count, 4u);
    EXPECT_DOUBLE_EQ(p.impostor.min, 0.5);
    EXPECT_DOUBLE_EQ(p.impostor.p5, 0.8);
    EXPECT_DOUBLE_EQ(p.impostor.median, 2.75);
    EXPECT_DOUBLE_EQ(p.impostor.p95, 4.7);
    EXPECT_DOUBLE_EQ(p.impostor.max, 5.0);
    // Operating points (FAR, FRR): t=2 (0.25, 0.5), t=2.5 (0.5, 0); the segment crosses FAR = FRR a
    // third of the way: EER 1/3 at distance 2 + 0.5/3.
    ASSERT_TRUE(p.eer);
    EXPECT_DOUBLE_EQ(*p.eer, 1.0 / 3);
    EXPECT_DOUBLE_EQ(*p.eer_threshold, 2.0 + 0.5 / 3);
    for (auto& t : p.tar_at_far) EXPECT_FALSE(t.tar);
    EXPECT_EQ(p.tar_at_far[0].note, "not enough impostor pairs (need 100, have 4)");
    // The closest pair is an impostor: nothing can be accepted without accepting it.
    ASSERT_TRUE(p.tar_at_zero_far.tar);
    EXPECT_DOUBLE_EQ(*p.tar_at_zero_far.tar, 0.0);
    EXPECT_FALSE(p.tar_at_zero_far.threshold);
    // At 2.5 (accept <=, as the gallery): impostors 0.5 and 2.5 accepted, both genuine pairs too.
    EXPECT_EQ(p.false_accepts, 2u);
    EXPECT_DOUBLE_EQ(*p.far_at_threshold, 0.5);
    EXPECT_EQ(p.false_rejects, 0u);
    EXPECT_DOUBLE_EQ(*p.frr_at_threshold, 0.0);
    const std::vector<RocPoint> roc = {
        {0.25, 0, 0.5}, {0.25, 0.5, 2}, {0.5, 1, 2.5}, {0.75, 1, 3}, {1, 1, 5}};
    ASSERT_EQ(p.roc.size(), roc.size());
    for (size_t i = 0; i < roc.size(); ++i) {
        EXPECT_DOUBLE_EQ(p.roc[i].far, roc[i].far) << i;
        EXPECT_DOUBLE_EQ(p.roc[i].tar, roc[i].tar) << i;
        EXPECT_DOUBLE_EQ(p.roc[i].threshold, roc[i].threshold) << i;
    }

    // Open set, templates a_1 = 0 and b_1 = 2.5: a_2 = 2 is nearer b (0.5) than a (2) → wrong;
    // b_2 = 5 is exactly at the threshold from b (2.5) → accepted, correct.
    const OpenSetCounts& c = r.open_set.counts;
    EXPECT_EQ(r.open_set.templates, 2u);
    EXPECT_EQ(c.genuine_probes, 2u);
    EXPECT_EQ(c.correct, 1u);
    EXPECT_EQ(c.wrong_identity, 1u);
    EXPECT_EQ(c.rejected, 0u);
    ASSERT_EQ(r.open_set.wrong_identity.size(), 1u);
    const OpenSetError& e = r.open_set.wrong_identity[0];
    EXPECT_EQ(e.file, "a_2.jpg");
    EXPECT_EQ(e.identity, "a");
    EXPECT_EQ(e.accepted_as, "b");
    EXPECT_DOUBLE_EQ(e.distance, 0.5);
    EXPECT_DOUBLE_EQ(e.second_distance, 2.0);
}

TEST(FaceEval, MarginAndThresholdReject) {
    EvalOptions o = tiny_options();
    o.margin = 2.0;  // a_2: runner-up only 1.5 further → ambiguous; b_2: 2.5 further → accepted
    OpenSetCounts c = evaluate(tiny(), o).open_set.counts;
    EXPECT_EQ(c.correct, 1u);
    EXPECT_EQ(c.wrong_identity, 0u);
    EXPECT_EQ(c.rejected, 1u);
    EXPECT_EQ(c.rejected_ambiguous, 1u);
    EXPECT_EQ(c.rejected_unknown, 0u);

    o.margin = 2.5;  // exactly the margin is enough
    EXPECT_EQ(evaluate(tiny(), o).open_set.counts.correct, 1u);

    o.margin = 0, o.threshold = 2.4;  // b_2 now too far: unknown
    c = evaluate(tiny(), o).open_set.counts;
    EXPECT_EQ(c.correct, 0u);
    EXPECT_EQ(c.wrong_identity, 1u);
    EXPECT_EQ(c.rejected_unknown, 1u);
}

TEST(FaceEval, StrangerCloseToAnEnrolledIdentityIsAcceptedAsThem) {
    auto [v, o] = two_elders_and_a_stranger();
    EvalReport r = evaluate(v, o);
    const OpenSetCounts& c = r.open_set.counts;
    EXPECT_EQ(r.open_set.strangers, std::vector<std::string>{"s"});
    EXPECT_EQ(c.enrolled_identities, 2u);
    EXPECT_EQ(c.genuine_probes, 2u);
    EXPECT_EQ(c.correct, 2u);
    EXPECT_EQ(c.stranger_probes, 2u);
    EXPECT_EQ(c.strangers_rejected, 1u);  // s_2: 4.875 from a
    EXPECT_EQ(c.strangers_accepted, 1u);
    ASSERT_EQ(r.open_set.stranger_accepted.size(), 1u);
    const OpenSetError& e = r.open_set.stranger_accepted[0];
    EXPECT_EQ(e.file, "s_1.jpg");
    EXPECT_EQ(e.identity, "s");
    EXPECT_EQ(e.accepted_as, "a");
    EXPECT_DOUBLE_EQ(e.distance, 0.25);
    EXPECT_DOUBLE_EQ(e.second_distance, 9.625);
}

// As the door's gallery: an identity with two templates is also compared by their mean. Elder a's
// photos lean each towards an axis of its own beside the face (axis 0), as photos of different days
// do; the probe, a third day's photo, is 0.85 from each photo yet 0.77 from their mean (unit vectors,
// as MobileFaceNet's). At 0.80 it is named only with the mean; with --nearest-template-only it is not.
TEST(FaceEval, AnIdentityIsAlsoComparedByTheMeanOfItsTemplates) {
    auto unit = [](std::vector<float> d) {
        double n = 0;
        for (float x : d) n += double(x) * x;
        for (float& x : d) x = float(x / std::sqrt(n));
        return d;
    };
    std::vector<EvalSample> v = {
        S("a_1.jpg", "a", unit({1, 0.75f, 0, 0, 0})), S("a_2.jpg", "a", unit({1, 0, 0.75f, 0, 0})),
        S("a_3.jpg", "a", unit({1, 0, 0, 0.75f, 0})), S("b_1.jpg", "b", unit({0, 0, 0, 0, 1})),
        S("b_2.jpg", "b", unit({0, 0, 0.2f, 0, 1}))};
    EvalOptions o;
    o.strangers = {};
    o.stranger_fraction = 0;
    o.threshold = 0.80;
    EvalReport r = evaluate(v, o);
    ASSERT_EQ(r.open_set.probes.size(), 1u);
    EXPECT_EQ(r.open_set.counts.correct, 1u) << "a_3 is " << r.open_set.probes[0].distance << " from a";
    EXPECT_LT(r.open_set.probes[0].distance, 0.78);
    o.mean_templates = false;
    r = evaluate(v, o);
    EXPECT_EQ(r.open_set.counts.correct, 0u);
    EXPECT_EQ(r.open_set.counts.rejected_unknown, 1u);
    EXPECT_GT(r.open_set.probes[0].distance, 0.80);
    EXPECT_EQ(to_json(r)["options"]["mean_templates"], false);
}

// --splits: the open-set test over several choices of strangers, counts summed and each error named
// with how many splits made it. Over 6 splits of 9 identities, "s" (a look-alike of p0) or p0 is a
// stranger in some and accepted as the other.
TEST(FaceEval, SplitsSumTheOpenSetOverSeveralChoicesOfStrangers) {
    std::vector<EvalSample> v = separated(8, 3);
    for (int j = 0; j < 3; ++j)
        v.push_back(S("s_" + std::to_string(j + 1) + ".jpg", "s", {0.0625f * float(j + 1), 0, 0, 0}));
    EvalOptions o;
    o.threshold = 0.5;
    SplitsSummary sum = evaluate_splits(v, o, 6);
    EXPECT_EQ(sum.splits, 6u);
    OpenSetCounts expect;
    size_t s_accepted = 0, p0_accepted = 0;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        EvalOptions one = o;
        one.seed = seed;
        auto r = evaluate(v, one).open_set;
        expect.genuine_probes += r.counts.genuine_probes;
        expect.correct += r.counts.correct;
        expect.stranger_probes += r.counts.stranger_probes;
        expect.strangers_accepted += r.counts.strangers_accepted;
        for (auto& e : r.stranger_accepted) (e.identity == "s" ? s_accepted : p0_accepted)++;
    }
    EXPECT_EQ(sum.counts.genuine_probes, expect.genuine_probes);
    EXPECT_EQ(sum.counts.correct, expect.correct);
    EXPECT_EQ(sum.counts.stranger_probes, expect.stranger_probes);
    EXPECT_EQ(sum.counts.strangers_accepted, expect.strangers_accepted);
    ASSERT_GT(s_accepted + p0_accepted, 0u) << "some split leaves one of the look-alikes a stranger";
    size_t named = 0;
    for (auto& [who, n] : sum.stranger_accepted) named += n;
    EXPECT_EQ(named, s_accepted + p0_accepted);
    if (s_accepted) {
        EXPECT_EQ((sum.stranger_accepted[{"s", "p0"}]), s_accepted);
    }
    EXPECT_NE(to_table(sum).find("stranger"), std::string::npos);
    EXPECT_EQ(to_json(sum)["strangers_accepted"], expect.strangers_accepted);
    EXPECT_THROW(evaluate_splits(v, o, 0), std::invalid_argument);
}

// Each probe's record for analysis outside the tool: the best identity and distance, the runner-up,
// and the mean and sample standard deviation of its distances to the other identities' templates.
TEST(FaceEval, ProbeRecordsCarryTheBestMatchAndTheSpreadOfTheOthers) {
    auto [v, o] = two_elders_and_a_stranger();
    EvalReport r = evaluate(v, o);  // templates a_1, a_2, b_1, b_2
    ASSERT_EQ(r.open_set.probes.size(), 4u);
    std::map<std::string, ProbeRecord> by_file;
    for (auto& p : r.open_set.probes) by_file[p.file] = p;
    const ProbeRecord& s1 = by_file.at("s_1.jpg");
    EXPECT_TRUE(s1.stranger);
    EXPECT_EQ(s1.identity, "s");
    EXPECT_EQ(s1.best_identity, "a");
    EXPECT_DOUBLE_EQ(s1.distance, 0.25);
    EXPECT_DOUBLE_EQ(s1.second_distance, 9.625);
    EXPECT_DOUBLE_EQ(s1.cohort_mean, 9.75);  // b's templates at 9.625 and 9.875
    EXPECT_NEAR(s1.cohort_sd, std::sqrt(0.03125), 1e-12);
    const ProbeRecord& b3 = by_file.at("b_3.jpg");
    EXPECT_FALSE(b3.stranger);
    EXPECT_EQ(b3.best_identity, "b");
    EXPECT_DOUBLE_EQ(b3.distance, 0.25);
    EXPECT_DOUBLE_EQ(b3.cohort_mean, 10.4375);  // a's templates at 10.5 and 10.375
    auto j = to_json(r);
    ASSERT_EQ(j["open_set"]["probes"].size(), 4u);
    EXPECT_EQ(j["open_set"]["probes"][0].count("cohort_sd"), 1u);
}

// --probes-as-frames: a probe may be embedded differently from a template (the door embeds frames
// once, enrollment photos with their mirror image). The open set uses the probe's own descriptor;
// the pairs keep the photo's.
TEST(FaceEval, AProbeDescriptorIsUsedForProbesOnly) {
    auto v = tiny();
    v[1].probe_descriptor = std::vector<float>{0.5f};    // a_2 as a probe: 0.5 from a_1, 2.0 from b_1
    v[0].probe_descriptor = std::vector<float>{100.0f};  // a_1 is a template: its probe form is unused
    EvalReport r = evaluate(v, tiny_options());
    EXPECT_TRUE(r.probes_as_frames);
    EXPECT_EQ(r.open_set.counts.correct, 2u) << "a_2 was the wrong identity with its photo descriptor";
    EXPECT_EQ(r.open_set.counts.wrong_identity, 0u);
    EXPECT_DOUBLE_EQ(r.pairs.genuine.min, 2.0) << "pairs use the photo descriptor";
    EXPECT_FALSE(evaluate(tiny(), tiny_options()).probes_as_frames);
    v[1].probe_descriptor = std::vector<float>{0.5f, 0.5f};
    EXPECT_THROW(evaluate(v, tiny_options()), std::invalid_argument);
    v[1].probe_descriptor.reset();
    v[1].descriptor.reset();  // a probe form without a photo descriptor is a caller's mistake
    v[1].probe_descriptor = std::vector<float>{0.5f};
    EXPECT_THROW(evaluate(v, tiny_options()), std::invalid_argument);
}

TEST(FaceEval, StrangersAreSeededAndProportional) {
    std::vector<EvalSample> v = separated(20, 3);
    EvalOptions o;
    auto strangers = [&](uint64_t seed) {
        o.seed = seed;
        return evaluate(v, o).open_set.strangers;
    };
    auto s1 = strangers(1);
    EXPECT_EQ(s1.size(), 8u);
    EXPECT_EQ(strangers(1), s1);
    EXPECT_NE(strangers(2), s1);
    o.stranger_fraction = 0;
    EXPECT_TRUE(evaluate(v, o).open_set.strangers.empty());
    o.stranger_fraction = 1;
    OpenSetResult all = evaluate(v, o).open_set;
    EXPECT_EQ(all.strangers.size(), 20u);
    EXPECT_EQ(all.templates, 0u);
    EXPECT_EQ(all.counts.strangers_rejected, 60u);
}

TEST(FaceEval, FirstPhotosInNaturalFileOrderAreEnrolled) {
    // x_10 is far from x_1 / x_2: enrolled, x_2 would be a correct probe; probed, x_10 is unknown.
    std::vector<EvalSample> v = {S("x_10.jpg", "x", {100}), S("x_2.jpg", "x", {0.25}), S("x_1.jpg", "x", {0}),
                                 S("y_1.jpg", "y", {50}), S("y_2.jpg", "y", {50.25})};
    EvalOptions o;
    o.stranger_fraction = 0;
    OpenSetCounts c = evaluate(v, o).open_set.counts;
    EXPECT_EQ(c.genuine_probes, 1u);
    EXPECT_EQ(c.rejected_unknown, 1u);
}

TEST(FaceEval, FailuresAndIdentitiesWithoutAUsablePhoto) {
    std::vector<EvalSample> v = tiny();
    v.push_back(failed("a_3.jpg", "a", "no face"));
    v.push_back(failed("c_1.jpg", "c", "too blurry"));
    v.push_back(failed("c_2.jpg", "c", "no face"));
    EvalReport r = evaluate(v, tiny_options());
    EXPECT_EQ(r.samples, 7u);
    EXPECT_EQ(r.with_descriptor, 4u);
    EXPECT_EQ(r.identities, 3u);
    EXPECT_EQ(r.failures, (std::map<std::string, size_t>{{"no face", 2}, {"too blurry", 1}}));
    EXPECT_EQ(r.open_set.not_enrollable, std::vector<std::string>{"c"});
    EXPECT_EQ(r.pairs.genuine.count + r.pairs.impostor.count, 6u);  // failures make no pairs
    nlohmann::json j = to_json(r);
    EXPECT_EQ(j["failures"]["count"], 3);
    EXPECT_EQ(j["failures"]["by_reason"]["no face"], 2);
}

TEST(FaceEval, PerGroupPairsStayWithinTheGroup) {
    std::vector<EvalSample> v = separated(3, 2, "60+|F|CN");
    for (auto& s : separated(2, 2, "60+|M|CN")) v.push_back(s);
    for (auto& s : v) s.descriptor->at(2) = s.group == "60+|F|CN" ? 0.0f : 100.0f;
    v.push_back(failed("m_x_1.jpg", "60+|M|CNp0", "no face"));
    v.back().group = "60+|M|CN";
    EvalOptions o;  // 0.4 of 3 + 2 identities = 2 strangers: 1.2 → 1 and 0.8 → 1 by largest remainder
    EvalReport r = evaluate(v, o);
    // Each column on its own too: 60+ and CN (everyone), F, M; and the two combinations.
    ASSERT_EQ(r.groups.size(), 6u);
    auto group = [&](const std::string& name) -> const GroupReport& {
        for (auto& g : r.groups)
            if (g.group == name) return g;
        ADD_FAILURE() << "no group " << name;
        return r.groups.front();
    };
    const GroupReport &f = group("60+|F|CN"), &m = group("60+|M|CN");
    EXPECT_EQ(group("F").samples, 6u);
    EXPECT_EQ(group("F").pairs.impostor.count, 12u);
    EXPECT_EQ(group("M").samples, 5u);
    EXPECT_EQ(group("60+").samples, 11u);
    EXPECT_EQ(group("60+").identities, 5u);
    EXPECT_EQ(group("60+").pairs.impostor.count, 12u + 4u + 6u * 4u) << "every pair is within 60+";
    EXPECT_EQ(group("CN").open_set.stranger_identities, 2u);
    EXPECT_EQ(report_groups("a"), std::vector<std::string>{"a"});
    EXPECT_EQ(report_groups("x|y|x"), (std::vector<std::string>{"x|y|x", "x", "y"}));
    EXPECT_EQ(f.group, "60+|F|CN");
    EXPECT_EQ(f.samples, 6u);
    EXPECT_EQ(f.identities, 3u);
    EXPECT_EQ(f.pairs.genuine.count, 3u);
    EXPECT_EQ(f.pairs.impostor.count, 12u);  // C(6,2) - 3
    EXPECT_EQ(m.group, "60+|M|CN");
    EXPECT_EQ(m.samples, 5u);
    EXPECT_EQ(m.failures, 1u);
    EXPECT_EQ(m.pairs.genuine.count, 2u);
    EXPECT_EQ(m.pairs.impostor.count, 4u);
    EXPECT_EQ(r.pairs.impostor.count, 12u + 4u + 6u * 4u);  // plus the cross-group pairs overall
    EXPECT_DOUBLE_EQ(*f.pairs.eer, 0.0);
    EXPECT_EQ(f.open_set.stranger_identities, 1u);
    EXPECT_EQ(m.open_set.stranger_identities, 1u);
    EXPECT_EQ(f.open_set.enrolled_identities, 2u);
    EXPECT_EQ(m.open_set.enrolled_identities, 1u);
    // Two photos each: enrolled identities are all templates; only strangers probe.
    EXPECT_EQ(f.open_set.stranger_probes, 2u);
    EXPECT_EQ(f.open_set.strangers_rejected, 2u);
    EXPECT_EQ(m.open_set.stranger_probes, 2u);
    EXPECT_EQ(r.open_set.counts.stranger_probes, 4u);
    std::string table = to_table(r);
    EXPECT_NE(table.find("60+|M|CN"), std::string::npos);
    bool m_in_json = false;
    nlohmann::json j = to_json(r);
    for (auto& g : j["groups"])
        if (g["group"] == "60+|M|CN") {
            m_in_json = true;
            EXPECT_EQ(g["pairs"]["impostor"]["count"], 4);
        }
    EXPECT_TRUE(m_in_json);
}

TEST(FaceEval, TarAtFarFromDistances) {
    // Impostors 1 + i/256 (i < 200), genuine 0.5 + j/128 (j < 100).
    std::vector<double> gen, imp;
    for (int i = 0; i < 200; ++i) imp.push_back(1 + i / 256.0);
    for (int j = 0; j < 100; ++j) gen.push_back(0.5 + j / 128.0);
    PairMetrics m = pair_metrics(gen, imp, 1.0);
    // FAR 1e-2: 2 impostors may pass → accept below 1 + 2/256: genuine j <= 64.
    ASSERT_TRUE(m.tar_at_far[0].tar);
    EXPECT_DOUBLE_EQ(*m.tar_at_far[0].tar, 0.65);
    EXPECT_DOUBLE_EQ(*m.tar_at_far[0].threshold, 1 + 1 / 256.0);
    EXPECT_FALSE(m.tar_at_far[1].tar);
    // None may pass → below 1: j <= 63, the last accepted distance 0.5 + 63/128.
    EXPECT_DOUBLE_EQ(*m.tar_at_zero_far.tar, 0.64);
    EXPECT_DOUBLE_EQ(*m.tar_at_zero_far.threshold, 0.5 + 63 / 128.0);
    // At 1.0: impostor 1.0 accepted; genuine above 1.0 (j > 64) rejected.
    EXPECT_EQ(m.false_accepts, 1u);
    EXPECT_EQ(m.false_rejects, 35u);
    // Ties: an impostor equal to the limit cannot be let through below it.
    PairMetrics t = pair_metrics({1, 2}, std::vector<double>(100, 1.5), 1.0);
    EXPECT_DOUBLE_EQ(*t.tar_at_far[0].tar, 0.5);
    EXPECT_DOUBLE_EQ(*t.tar_at_far[0].threshold, 1.0);
    // Nothing to compare.
    PairMetrics none = pair_metrics({}, {}, 1.0);
    EXPECT_FALSE(none.eer);
    EXPECT_FALSE(none.far_at_threshold);
    EXPECT_TRUE(none.roc.empty());
    EXPECT_EQ(none.tar_at_zero_far.note, "no impostor pairs");
}

TEST(FaceEval, OverlappingClustersAgreeWithABruteForceCount) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<EvalSample> v;
    for (int k = 0; k < 30; ++k)
        for (int j = 0; j < 5; ++j) {
            std::vector<float> d(16);
            for (int i = 0; i < 16; ++i) d[size_t(i)] = (i == k % 16 ? 0.6f : 0.0f) + 0.4f * u(rng);
            v.push_back(
                S("id" + std::to_string(k) + "_" + std::to_string(j) + ".jpg", "id" + std::to_string(k), d));
        }
    EvalOptions o;
    o.threshold = 1.1;
    EvalReport r = evaluate(v, o);
    size_t fa = 0, fr = 0, gen = 0, imp = 0;
    for (size_t a = 0; a < v.size(); ++a)
        for (size_t b = a + 1; b < v.size(); ++b) {
            double s = 0;
            for (size_t i = 0; i < 16; ++i)
                s += std::pow(double((*v[a].descriptor)[i]) - (*v[b].descriptor)[i], 2);
            bool same = v[a].identity == v[b].identity, accept = std::sqrt(s) <= o.threshold;
            (same ? gen : imp)++;
            if (same && !accept) ++fr;
            if (!same && accept) ++fa;
        }
    EXPECT_EQ(r.pairs.genuine.count, gen);
    EXPECT_EQ(r.pairs.impostor.count, imp);
    EXPECT_EQ(r.pairs.false_accepts, fa);
    EXPECT_EQ(r.pairs.false_rejects, fr);
    ASSERT_TRUE(r.pairs.eer);
    EXPECT_GT(*r.pairs.eer, 0.0);
    EXPECT_LT(*r.pairs.eer, 0.5);
    // 10875 impostor pairs: every FAR down to 1e-4 is measurable, and a lower FAR costs TAR.
    const auto& t = r.pairs.tar_at_far;
    ASSERT_TRUE(t[0].tar && t[1].tar && t[2].tar);
    EXPECT_GE(*t[0].tar, *t[1].tar);
    EXPECT_GE(*t[1].tar, *t[2].tar);
    EXPECT_LT(*t[2].tar, 1.0);
    for (size_t i = 1; i < r.pairs.roc.size(); ++i) {  // monotone, ascending thresholds
        EXPECT_GE(r.pairs.roc[i].far, r.pairs.roc[i - 1].far);
        EXPECT_GE(r.pairs.roc[i].tar, r.pairs.roc[i - 1].tar);
        EXPECT_GT(r.pairs.roc[i].threshold, r.pairs.roc[i - 1].threshold);
    }
    const OpenSetCounts& c = r.open_set.counts;
    EXPECT_EQ(c.correct + c.wrong_identity + c.rejected, c.genuine_probes);
    EXPECT_EQ(c.genuine_probes, 18u * 3u);
    EXPECT_EQ(c.stranger_probes, 12u * 5u);
}

TEST(FaceEval, RejectsInconsistentInput) {
    EXPECT_THROW(evaluate({S("a_1.jpg", "a", {0, 1}), S("a_2.jpg", "a", {0})}, {}), std::invalid_argument);
    EXPECT_THROW(evaluate({S("a_1.jpg", "", {0})}, {}), std::invalid_argument);
    EvalOptions o;
    o.enroll_per_identity = 0;
    EXPECT_THROW(evaluate(tiny(), o), std::invalid_argument);
    o = {};
    o.stranger_fraction = 1.5;
    EXPECT_THROW(evaluate(tiny(), o), std::invalid_argument);
    EvalReport empty = evaluate({}, {});
    EXPECT_EQ(empty.samples, 0u);
    EXPECT_FALSE(empty.pairs.eer);
}

TEST(FaceEval, IdentityFromFilename) {
    EXPECT_EQ(identity_from_filename("zhang_wei_3.jpg"), "zhang_wei");
    EXPECT_EQ(identity_from_filename("/data/faces/zhang_wei_12.png"), "zhang_wei");
    EXPECT_EQ(identity_from_filename("obama_3_small.jpg"), "obama");
    EXPECT_EQ(identity_from_filename("obama_4_240p.jpg"), "obama");
    EXPECT_EQ(identity_from_filename("li_2_3.jpg"), "li_2");
    EXPECT_EQ(identity_from_filename("biden.jpg"), "biden");
    EXPECT_EQ(identity_from_filename("wang_fang_x.jpg"), "wang_fang_x");
    EXPECT_EQ(identity_from_filename("_3.jpg"), "_3");
    EXPECT_EQ(identity_from_filename("王芳_2.jpg"), "王芳");
    EXPECT_EQ(identity_from_filename("/data/faces/li_na/IMG_0001.jpg", "/data/faces"), "li_na");
    EXPECT_EQ(identity_from_filename("/data/faces/li_na/IMG_0001.jpg", "/data/faces/"), "li_na");
    EXPECT_EQ(identity_from_filename("/data/faces/li_na/2024/a_1.jpg", "/data/faces"), "li_na");
    EXPECT_EQ(identity_from_filename("/data/faces/wang_fang_2.jpg", "/data/faces"), "wang_fang");
    EXPECT_EQ(identity_from_filename("faces/li_na/1.jpg", "faces"), "li_na");
    EXPECT_EQ(identity_from_filename("/other/li_na/zhou_1.jpg", "/data/faces"), "zhou");
}

TEST(FaceEval, RocPngIsWrittenAndDecodable) {
    std::vector<EvalSample> v = separated(3, 3, "60+|F|CN");
    for (auto& s : tiny()) v.push_back(S(s.file, s.identity, {(*s.descriptor)[0], 50, 0, 0}, "70+|M|CN"));
    EvalReport r = evaluate(v, {});
    fs::path png = temp_file("roc.png");
    write_roc_png(r, png.string());
    ASSERT_TRUE(fs::exists(png));
    EXPECT_GT(fs::file_size(png), 1000u);
    cv::Mat img = cv::imread(png.string());
    ASSERT_FALSE(img.empty());
    EXPECT_EQ(img.cols, 1000);
    EXPECT_EQ(img.rows, 680);
    // Ink in the plot area: grid, curves, labels; and the first group's palette colour.
    cv::Mat plot = img(cv::Rect(90, 60, 640, 540)), ink;
    cv::inRange(plot, cv::Scalar(0, 0, 0), cv::Scalar(200, 200, 200), ink);
    EXPECT_GT(cv::countNonZero(ink), 500);
    cv::inRange(img, cv::Scalar(180, 60, 0), cv::Scalar(220, 100, 20), ink);
    EXPECT_GT(cv::countNonZero(ink), 20);
    fs::remove(png);

    fs::path empty = temp_file("roc_empty.png");  // no pairs at all still gives a plot
    write_roc_png(evaluate({}, {}), empty.string());
    EXPECT_FALSE(cv::imread(empty.string()).empty());
    fs::remove(empty);
    EXPECT_THROW(write_roc_png(r, "/nonexistent-dir/roc.png"), std::runtime_error);
}

TEST(FaceEval, JsonAndTableCarryTheNumbers) {
    EvalReport r = evaluate(tiny(), tiny_options());
    nlohmann::json j = to_json(r);
    EXPECT_DOUBLE_EQ(j["pairs"]["eer"].get<double>(), 1.0 / 3);
    EXPECT_TRUE(j["pairs"]["tar_at_zero_far"]["threshold"].is_null());
    EXPECT_EQ(j["pairs"]["tar_at_far"][0]["note"], "not enough impostor pairs (need 100, have 4)");
    EXPECT_EQ(j["pairs"]["at_threshold"]["false_accepts"], 2);
    EXPECT_EQ(j["pairs"]["roc"].size(), 5u);
    EXPECT_EQ(j["open_set"]["counts"]["wrong_identity"], 1);
    EXPECT_EQ(j["open_set"]["wrong_identity"][0]["accepted_as"], "b");
    EXPECT_EQ(j["options"]["threshold"], 2.5);
    std::string t = to_table(r);
    EXPECT_NE(t.find("EER 33.33 % at distance 2.1667"), std::string::npos) << t;
    EXPECT_NE(t.find("FAR 50.00 % (2 of 4), FRR 0.00 % (0 of 2)"), std::string::npos) << t;
    EXPECT_NE(t.find("a_2.jpg (a) -> b at 0.5000"), std::string::npos) << t;
}

// Over a track the door needs 3 agreeing photos: one photo of `a` that looks like `b` is a wrong
// identity on its own but not over a's track; a stranger with one lucky photo is never decided; a
// stranger whose 3 photos all look like `b` is accepted (and named); two photos can never decide.
TEST(FaceEval, TracksDecideOnlyWhenSeveralPhotosAgree) {
    // 1-D: a at 0, b at 10, c at 20; threshold 0.6 (default), margin 0.05.
    std::vector<EvalSample> v = {
        S("a_1.jpg", "a", {0}),      S("a_2.jpg", "a", {0.25}),  S("a_3.jpg", "a", {9.75}),  // looks like b
        S("a_4.jpg", "a", {0.125}),  S("a_5.jpg", "a", {0.375}), S("b_1.jpg", "b", {10}),
        S("b_2.jpg", "b", {10.25}),  S("c_1.jpg", "c", {20}),    S("c_2.jpg", "c", {20.25}),  // c: 1 probe
        S("s_1.jpg", "s", {0.25}),   S("s_2.jpg", "s", {5}),     S("s_3.jpg", "s", {15}),  // one lucky photo
        S("t_1.jpg", "t", {10.125}), S("t_2.jpg", "t", {10.25}), S("t_3.jpg", "t", {9.875}),  // b's double
        S("u_1.jpg", "u", {10}),  // a stranger with one photo, b's double too: too short to decide
    };
    EvalOptions o;
    o.enroll_per_identity = 1;
    o.strangers = {"s", "t", "u"};
    EvalReport r = evaluate(v, o);
    EXPECT_EQ(r.open_set.counts.wrong_identity, 1u) << "a_3, one photo on its own";
    const TrackCounts& t = r.open_set.tracks;
    EXPECT_EQ(t.tracks, 3u);
    EXPECT_EQ(t.correct, 1u) << "a: a_2, a_4, a_5 agree; a_3's vote for b is outweighed";
    EXPECT_EQ(t.wrong_identity, 0u);
    EXPECT_EQ(t.undecided, 2u) << "b and c have one probe each";
    EXPECT_EQ(t.short_tracks, 2u);
    EXPECT_EQ(t.stranger_tracks, 3u);
    EXPECT_EQ(t.strangers_accepted, 1u) << "t: three photos within the threshold of b";
    EXPECT_EQ(t.strangers_undecided, 2u) << "s: one photo near a is not enough; u: one photo";
    EXPECT_EQ(t.stranger_short_tracks, 1u) << "u could not have been accepted: counted apart";
    ASSERT_EQ(r.open_set.track_errors.size(), 1u);
    EXPECT_EQ(r.open_set.track_errors[0], (std::pair<std::string, std::string>{"t", "b"}));

    o.track_frames = 4;  // a now needs a 4th agreeing photo after a_5: it has none
    EXPECT_EQ(evaluate(v, o).open_set.tracks.correct, 0u);
    auto j = to_json(evaluate(v, o));
    EXPECT_EQ(j["open_set"]["tracks"]["frames"], 4);
    EXPECT_NE(to_table(r).find("genuine tracks"), std::string::npos);
    EXPECT_NE(to_table(r).find("(1 with fewer than 3 photos, which cannot be accepted)"), std::string::npos)
        << to_table(r);
}

// `face calibrate` on a site where one person was enrolled as two elders: that pair, closer than
// half of the site's own same-elder pairs, is named for staff to check and does not set the
// proposal (which would otherwise refuse nearly every elder to keep one face's two records apart);
// the report says what the proposal costs the site's own elders.
TEST(SiteCalibration, AProbableDuplicateRecordIsNamedAndDoesNotSetTheThreshold) {
    std::vector<CalibrationTemplate> t;
    // Four elders on a line 2.0 apart, each with three templates 0.4–0.6 from each other.
    for (int e = 0; e < 4; ++e)
        for (float d : {0.0f, 0.4f, 1.0f}) t.push_back({e + 1, {2.0f * float(e), 0.0f, d * 0.6f}});
    // Elder 9 is elder 1 enrolled again: 0.1 from one of elder 1's templates.
    t.push_back({9, {0.1f, 0.0f, 0.0f}});
    auto c = calibrate_site(t, 0.83, 0.05, 1e-3);
    ASSERT_TRUE(c.duplicate_floor);
    EXPECT_NEAR(*c.duplicate_floor, 0.36, 1e-6) << "the median same-elder distance";
    ASSERT_FALSE(c.closest.empty());
    EXPECT_EQ(c.closest[0].elder_a, 1);
    EXPECT_EQ(c.closest[0].elder_b, 9);
    EXPECT_TRUE(c.closest[0].same_person_likely);
    EXPECT_GE(c.below_floor, 1u);
    ASSERT_TRUE(c.proposed_threshold);
    EXPECT_GT(*c.proposed_threshold, 0.5) << "not set by the duplicate (0.1): " << c.basis;
    ASSERT_TRUE(c.genuine_refused_at_proposal);
    EXPECT_DOUBLE_EQ(*c.genuine_refused_at_proposal, 4.0 / 12) << "each elder's 0.6 pair, said plainly";
    auto j = to_json(c);
    EXPECT_EQ(j["closest"][0]["same_person_likely"], true);
    EXPECT_EQ(j["pairs_below_floor"], c.below_floor);

    // With too few same-elder pairs there is no floor: every pair of different elders counts.
    std::vector<CalibrationTemplate> few = {{1, {0.0f}}, {1, {0.4f}}, {2, {0.1f}}, {3, {3.0f}}};
    auto f = calibrate_site(few, 0.83, 0.05, 1e-3);
    EXPECT_FALSE(f.duplicate_floor);
    ASSERT_TRUE(f.proposed_threshold);
    EXPECT_LT(*f.proposed_threshold, 0.1);
    ASSERT_TRUE(f.genuine_refused_at_proposal);
    EXPECT_DOUBLE_EQ(*f.genuine_refused_at_proposal, 1.0) << "and the report says it refuses elder 1";
}

namespace {
// A gallery of `elders` people, 3 templates each, in 64 dimensions around a common "face" direction
// (as real descriptors share one). The first half of the elders have sharp templates (spread
// `sharp`); the second half blurred ones (spread `blurred`), which sit further from everyone,
// their own other templates included.
std::vector<CalibrationTemplate> gallery_with_blurred_half(double sharp, double blurred, int elders) {
    constexpr int kDim = 64;
    std::mt19937 rng(1);  // T-norm helped by 2 to 21 trials on each of seeds 1 to 8
    std::normal_distribution<float> g(0.f, 1.f);
    auto unit = [](std::vector<float> v) {
        double n = 0;
        for (float x : v) n += double(x) * x;
        for (float& x : v) x = float(x / std::sqrt(n));
        return v;
    };
    auto around = [&](const std::vector<float>& centre, double spread) {
        std::vector<float> v(centre);
        for (float& x : v) x += float(spread / std::sqrt(kDim)) * g(rng);
        return unit(v);
    };
    std::vector<float> face(kDim);
    for (float& x : face) x = g(rng);
    face = unit(face);
    std::vector<CalibrationTemplate> t;
    for (int e = 0; e < elders; ++e) {
        auto identity = around(face, 0.9);
        for (int k = 0; k < 3; ++k) t.push_back({e + 1, around(identity, e < elders / 2 ? sharp : blurred)});
    }
    return t;
}
}  // namespace

// The calibration's trials compare as the door's gallery does: with an elder's nearest template or
// their mean. Elder 2's two photos lean each towards a day of their own; elder 1's face is near
// their mean (0.67) though 0.82 from either photo. As a stranger trial (elder 1 left out), elder 1's
// face is nearest elder 2's mean; allowing no stranger, the plain rule's cut lies there.
TEST(SiteCalibration, TrialsCompareWithAnEldersMeanTemplateAsTheDoorDoes) {
    auto unit = [](std::initializer_list<std::pair<int, float>> axes) {
        std::vector<float> d(16, 0.f);
        double n = 0;
        for (auto [a, w] : axes) d[size_t(a)] += w;
        for (float x : d) n += double(x) * x;
        for (float& x : d) x = float(x / std::sqrt(n));
        return d;
    };
    std::vector<CalibrationTemplate> t = {{1, unit({{0, 1.f}, {3, 0.2f}})},
                                          {1, unit({{0, 1.f}, {4, 0.2f}})},  // like elder 2
                                          {2, unit({{0, 1.f}, {1, 1.1f}})},
                                          {2, unit({{0, 1.f}, {2, 1.1f}})},  // two days
                                          {3, unit({{5, 1.f}})},
                                          {3, unit({{5, 1.f}, {6, 0.1f}})},  // far from both
                                          {4, unit({{7, 1.f}})},
                                          {4, unit({{7, 1.f}, {8, 0.1f}})}};
    auto mean2 = mean_template({&t[2].descriptor, &t[3].descriptor});
    const double to_mean = distance(t[0].descriptor, mean2);
    ASSERT_LT(to_mean, 0.70);
    ASSERT_GT(distance(t[0].descriptor, t[2].descriptor), 0.80);
    auto c = calibrate_site(t, 0.80, 0.05, 1e-3);
    ASSERT_TRUE(c.cohort);
    EXPECT_EQ(c.cohort->strangers_allowed, 0u);
    EXPECT_NEAR(c.cohort->plain_threshold, to_mean, 1e-9)
        << "the closest stranger trial is elder 1's face against elder 2's mean";
}

// `face calibrate` shows whether scoring against the site's own elders (T-norm) would name more of
// them than the plain distance at the same false-accept rate. Where half the elders were enrolled
// from blurred photos, their templates sit far from everyone: the plain distance must stay below
// the closest stranger and misses them; T-norm sees that their best match still stands out from
// the rest, and names more. Where every elder's photos are alike, it does not help.
TEST(SiteCalibration, ShowsWhetherScoringAgainstTheSitesOwnEldersWouldHelp) {
    auto blurred = calibrate_site(gallery_with_blurred_half(0.25, 0.8, 32), 0.83, 0.05, 0.05);
    ASSERT_TRUE(blurred.cohort);
    const CohortNormalisation& b = *blurred.cohort;
    EXPECT_EQ(b.genuine_trials, 96u);
    EXPECT_EQ(b.stranger_trials, 96u) << "every template is also a stranger trial, its elder left out";
    EXPECT_EQ(b.strangers_allowed, 4u);
    EXPECT_LT(b.plain_named, b.genuine_trials) << "the plain distance misses blurred elders";
    EXPECT_GE(b.tnorm_named, b.plain_named + 2);
    EXPECT_LE(b.tnorm_wrong, b.plain_wrong);
    EXPECT_TRUE(b.helps);
    auto j = to_json(blurred)["cohort_normalisation"];
    EXPECT_EQ(j["tnorm"]["named"], b.tnorm_named);
    EXPECT_EQ(j["plain"]["threshold"], b.plain_threshold);
    EXPECT_EQ(j["helps"], true);

    auto alike = calibrate_site(gallery_with_blurred_half(0.25, 0.25, 32), 0.83, 0.05, 0.05);
    ASSERT_TRUE(alike.cohort);
    EXPECT_EQ(alike.cohort->plain_named, 96u);
    EXPECT_FALSE(alike.cohort->helps);

    // Three elders leave no spread to score a stranger trial's best match against.
    auto three = gallery_with_blurred_half(0.25, 0.25, 3);
    EXPECT_FALSE(calibrate_site(three, 0.83, 0.05, 0.05).cohort);
    EXPECT_TRUE(to_json(calibrate_site(three, 0.83, 0.05, 0.05))["cohort_normalisation"].is_null());
}
