// Controller benchmarks: CCTV index ingest and query, motion analysis per frame, gate decisions.
// Run: build/bench/controller/bench_controller [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <random>

#include "config/config.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/door/gate.hpp"
#include "vision/blas_threads.hpp"
#include "vision/cctv/motion.hpp"
#include "vision/face_engine.hpp"
#include "vision/gallery.hpp"

using namespace caregate;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
    std::string t = (fs::temp_directory_path() / "caregate-bench-XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    return t;
}

std::vector<cctv::CctvEvent> make_events(size_t n, int64_t start, int64_t step, std::mt19937& rng) {
    static const char* cams[] = {"door", "hall", "dining", "corridor"};
    static const char* labels[] = {"motion", "person", "face"};
    std::vector<cctv::CctvEvent> v(n);
    for (size_t i = 0; i < n; ++i) {
        auto& e = v[i];
        e.camera_id = cams[rng() % 4];
        e.label = labels[rng() % 3];
        e.start_ms = start + int64_t(i) * step;
        e.end_ms = e.start_ms + 4000;
        e.score = 0.5;
        e.zone = "hall";
        e.snapshot = "2026-11-24/door/1-motion.jpg";
        e.thumbnail = "2026-11-24/door/1-motion-thumb.jpg";
    }
    return v;
}

void BM_IndexIngest(benchmark::State& state) {
    auto dir = temp_dir();
    SystemClock clock;
    Store store(dir + "/i.db");
    EventIndex index(store, clock, config::Cctv{}, dir + "/media");
    std::mt19937 rng(1);
    int64_t t = 1'790'000'000'000;
    const size_t batch = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        auto events = make_events(batch, t, 50, rng);
        t += int64_t(batch) * 50;
        state.ResumeTiming();
        index.ingest(events);
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch));
    fs::remove_all(dir);
}
BENCHMARK(BM_IndexIngest)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// One event as the daemon writes it: the camera worker's event_started (insert) and event_updated
// (end, snapshot, thumbnail), two transactions with synchronous=FULL. This is the production path;
// BM_IndexIngest above is the batch path that only tests and replays use.
void BM_IndexEventAsTheDaemonWritesIt(benchmark::State& state) {
    auto dir = temp_dir();
    SystemClock clock;
    Store store(dir + "/d.db");
    EventIndex index(store, clock, config::Cctv{}, dir + "/media");
    std::mt19937 rng(4);
    int64_t t = 1'790'000'000'000;
    for (auto _ : state) {
        state.PauseTiming();
        auto e = make_events(1, t, 50, rng)[0];
        t += 50;
        state.ResumeTiming();
        e.id = index.event_started(e);
        index.event_updated(e);
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
    fs::remove_all(dir);
}
BENCHMARK(BM_IndexEventAsTheDaemonWritesIt)->Unit(benchmark::kMicrosecond);

// A one-day query (newest page) on an index of range(0) events spread over ~a year.
void BM_IndexOneDayQuery(benchmark::State& state) {
    static std::map<int64_t, std::string> built;  // reuse the database across repetitions
    const int64_t n = state.range(0);
    const int64_t year = 365LL * 86'400'000;
    const int64_t step = std::max<int64_t>(1, year / n);
    const int64_t t0 = 1'760'000'000'000;
    if (!built.count(n)) {
        auto dir = temp_dir();
        SystemClock clock;
        Store store(dir + "/q.db");
        EventIndex index(store, clock, config::Cctv{}, dir + "/media");
        std::mt19937 rng(2);
        for (int64_t done = 0; done < n; done += 50'000)
            index.ingest(
                make_events(size_t(std::min<int64_t>(50'000, n - done)), t0 + done * step, step, rng));
        built[n] = dir;
    }
    SystemClock clock;
    Store store(built[n] + "/q.db");
    EventIndex index(store, clock, config::Cctv{}, built[n] + "/media");
    int64_t day = 86'400'000;
    std::mt19937 rng(3);
    for (auto _ : state) {
        EventQuery q;
        int64_t d = int64_t(rng() % 300);
        q.from_ms = t0 + d * day;
        q.to_ms = *q.from_ms + day;
        q.camera = state.range(1) ? "door" : "";
        q.limit = 50;
        auto r = index.query(q);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_IndexOneDayQuery)->Args({1'000'000, 0})->Args({1'000'000, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IndexOneDayQuery)
    ->Args({10'000'000, 0})
    ->Args({10'000'000, 1})
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(200);

void BM_MotionAnalyze640x360(benchmark::State& state) {
    cctv::MotionDetector motion({});
    std::vector<cv::Mat> frames;
    for (int i = 0; i < 50; ++i) {
        cv::Mat f(360, 640, CV_8UC3, cv::Scalar(60, 80, 100));
        cv::randu(f(cv::Rect(0, 300, 640, 60)), 0, 40);
        if (i >= 10 && i < 40)
            cv::rectangle(f, {20 + i * 10, 60, 80, 200}, cv::Scalar(220, 220, 220), cv::FILLED);
        frames.push_back(f);
    }
    size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(motion.analyze(frames[i++ % frames.size()]));
}
BENCHMARK(BM_MotionAnalyze640x360)->Unit(benchmark::kMillisecond);

// FaceSeen → gate decision with a paired temperature, including the SQLite commits
// (check-in, outbox, door event) at synchronous=FULL.
void BM_GateFaceToDecision(benchmark::State& state) {
    auto dir = temp_dir();
    auto cfg = config::parse_config(
        "site: {id: b, name: x}\nzones: [{id: hall, name: h, capacity: 100000}]\ncheckin: {interval_minutes: "
        "0}\n"
        "buses: [{id: b, type: tcp, host: 127.0.0.1, devices: [{id: thermo, kind: ir_thermometer, "
        "points: [{table: input_registers, address: 15, scale: 0.1, meaning: temperature}]}]}]\n",
        dir + "/x.yaml");
    SystemClock clock;
    Store store(dir + "/g.db");
    Outbox outbox("b", "r");
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, outbox, occ, 0, "hall");
    AlarmService alarms(store, clock, outbox, AlarmPolicy{60, 900});
    Roster roster(store, clock);
    Gate gate(cfg, store, clock, roster, checkins, occ, alarms);
    std::vector<int64_t> elders;
    for (int i = 0; i < 200; ++i) {
        Elder e;
        e.name = "长者" + std::to_string(i);
        e.gender = i % 2 ? "男" : "女";
        elders.push_back(roster.save(e, "bench").id);
    }
    size_t i = 0;
    for (auto _ : state) {
        gate.temperature({"thermo", 36.5, clock.now_ms(), std::nullopt});
        FaceSeen f;
        f.camera_id = "door";
        f.zone = "hall";
        f.role = "entrance";
        f.elder_id = elders[i++ % elders.size()];
        f.ts_ms = clock.now_ms();
        auto d = gate.face(f);
        if (!d || d->decision != "allow") state.SkipWithError("gate did not allow");
    }
    fs::remove_all(dir);
}
BENCHMARK(BM_GateFaceToDecision)->Unit(benchmark::kMillisecond);

// The shipped default (MobileFaceNet) unless CAREGATE_FACE_MODEL names another.
std::string model() {
    const char* m = std::getenv("CAREGATE_FACE_MODEL");
    return m ? m : CAREGATE_SOURCE_DIR "/.cache/models/mobilefacenet/MobileFaceNet.tflite";
}
const char* kDlibModel = CAREGATE_SOURCE_DIR "/.cache/models/dlib_face_recognition_resnet_model_v1.dat";
cv::Mat face_frame() {
    // A 640×480 door-camera frame with one face.
    cv::Mat photo = vision::load_image(CAREGATE_SOURCE_DIR "/tests/data/faces/obama_2.jpg");
    double k = std::min(640.0 / photo.cols, 480.0 / photo.rows);
    cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(80, 80, 80)), scaled;
    cv::resize(photo, scaled, {}, k, k);
    scaled.copyTo(frame(cv::Rect(0, 0, scaled.cols, scaled.rows)));
    return frame;
}

void BM_FaceDetectLandmarksQuality640x480(benchmark::State& state) {
    vision::FaceEngineOptions o;
    o.embed = false;
    vision::FaceEngine engine(o);
    auto f = face_frame();
    for (auto _ : state) benchmark::DoNotOptimize(engine.analyze(f));
}
BENCHMARK(BM_FaceDetectLandmarksQuality640x480)->Unit(benchmark::kMillisecond);

void BM_FaceDetectMmodLandmarksQuality640x480(benchmark::State& state) {
    vision::FaceEngineOptions o;
    o.embed = false;
    o.mmod_model = CAREGATE_SOURCE_DIR "/.cache/models/dlib/mmod_human_face_detector.dat";
    if (!std::filesystem::exists(o.mmod_model)) return state.SkipWithError("run scripts/fetch-models first");
    vision::FaceEngine engine(o);
    auto f = face_frame();
    for (auto _ : state) benchmark::DoNotOptimize(engine.analyze(f));
}
BENCHMARK(BM_FaceDetectMmodLandmarksQuality640x480)->Unit(benchmark::kMillisecond);

void BM_FaceFullPipeline640x480(benchmark::State& state) {
    vision::FaceEngineOptions o;
    o.recognition_model = model();
    vision::FaceEngine engine(o);
    auto f = face_frame();
    for (auto _ : state) benchmark::DoNotOptimize(engine.analyze(f));
}
BENCHMARK(BM_FaceFullPipeline640x480)->Unit(benchmark::kMillisecond);

// One face's descriptor from `model_file`, embedded as the door embeds a frame (Mirror::no) or as
// enrollment embeds a photo (Mirror::yes, with its mirror image).
void embed_one_face(benchmark::State& state, const std::string& model_file,
                    vision::FaceEngine::Mirror mirror) {
    vision::FaceEngineOptions o;
    o.recognition_model = model_file;
    vision::FaceEngine engine(o);
    auto f = face_frame();
    auto faces = engine.analyze(f);
    for (auto _ : state) benchmark::DoNotOptimize(engine.embed(f, faces.at(0), mirror));
}
void BM_FaceEmbedOnly(benchmark::State& state) {
    embed_one_face(state, model(), vision::FaceEngine::Mirror::no);
}
BENCHMARK(BM_FaceEmbedOnly)->Unit(benchmark::kMillisecond);
void BM_FaceEmbedPhoto(benchmark::State& state) {
    embed_one_face(state, model(), vision::FaceEngine::Mirror::yes);
}
BENCHMARK(BM_FaceEmbedPhoto)->Unit(benchmark::kMillisecond);
// The alternative model a site may choose (face.recognition_model: a .dat file).
void BM_FaceEmbedOnlyDlib(benchmark::State& state) {
    embed_one_face(state, kDlibModel, vision::FaceEngine::Mirror::no);
}
BENCHMARK(BM_FaceEmbedOnlyDlib)->Unit(benchmark::kMillisecond);

// range(0): templates; range(1): dimension (128 dlib, 192 MobileFaceNet).
void BM_GalleryMatch(benchmark::State& state) {
    vision::Gallery g;
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0, 0.1f);
    vision::Descriptor d(size_t(state.range(1)));
    for (int64_t i = 0; i < state.range(0); ++i) {
        for (auto& x : d) x = nd(rng);
        g.add(i, i / 3, d);
    }
    for (auto& x : d) x = nd(rng);
    for (auto _ : state) benchmark::DoNotOptimize(g.match(d, 0.6, 0.05));
}
BENCHMARK(BM_GalleryMatch)->ArgsProduct({{1000, 10000, 100000}, {128, 192}})->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    caregate::vision::use_one_blas_thread();  // as the daemon runs (vision/blas_threads.hpp)
    spdlog::set_level(spdlog::level::err);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    return 0;
}
