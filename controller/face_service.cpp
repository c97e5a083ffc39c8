#include "controller/face_service.hpp"

#include <algorithm>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "controller/core/log.hpp"

namespace caregate {

using nlohmann::json;

namespace {
vision::FaceEngineOptions engine_options(const config::Face& f) {
    vision::FaceEngineOptions o;
    o.recognition_model = f.recognition_model;
    o.landmark_model = f.landmark_model;
    o.detect_width = f.detect_width;
    o.mmod_model = f.mmod_model;
    o.min_face_px = f.min_face_px;
    o.min_sharpness = f.min_sharpness;
    return o;
}
double iou(const cv::Rect& a, const cv::Rect& b) {
    double i = (a & b).area();
    double u = a.area() + b.area() - i;
    return u > 0 ? i / u : 0;
}
}  // namespace

FaceService::FaceService(const config::SiteConfig& cfg, Store& store, const Clock& clock, Roster& roster,
                         Bus* bus)
    : cfg_(cfg),
      store_(store),
      clock_(clock),
      roster_(roster),
      bus_(bus),
      templates_(store, clock, FaceKey::load(cfg.face.key_file)),
      engine_(engine_options(cfg.face)),
      threshold_(cfg.face.threshold > 0 ? cfg.face.threshold : engine_.default_threshold()) {
    reload();
}

FaceService::~FaceService() = default;

namespace {
// What staff do about a photo the quality check refused, in words they use.
std::string enrollment_advice(const std::string& reason) {
    if (reason.rfind("face too small", 0) == 0) return "人脸太小，请靠近一些重拍";
    if (reason == "too blurred") return "照片太模糊，请拿稳手机重拍";
    if (reason == "too dark") return "光线太暗，请到亮处重拍";
    if (reason == "overexposed") return "照片过亮，请避开强光重拍";
    if (reason == "not facing the camera") return "老人没有正对镜头，请正面重拍";
    return "照片不合格，请重拍";
}
}  // namespace

void FaceService::reload() {
    int64_t generation =
        templates_.generation();  // before reading: a change during the load is seen next time
    const std::string model = engine_.model_id();
    vision::Gallery fresh;
    for (auto& t : templates_.load_all(model)) fresh.add(t.id, t.elder_id, t.descriptor);
    gallery_.take(fresh);
    loaded_generation_ = generation;
    logger("face")->info("gallery loaded: {} templates of {} (match distance {})", gallery_.size(), model,
                         threshold_);
    // Descriptors of two models are not comparable: those elders must enroll again (ids, not names,
    // in the log). The kiosk does not list them yet.
    auto stale = templates_.needing_reenrollment(model);
    if (!stale.empty()) {
        std::string ids;
        for (auto& [id, name] : stale) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
        logger("face")->warn(
            "{} elders have face templates of another recognition model only and must enroll "
            "again: elder ids {}",
            stale.size(), ids);
    }
}

int FaceService::enroll(int64_t elder_id, const std::vector<std::string>& images, const std::string& actor) {
    std::vector<std::pair<std::string, cv::Mat>> mats;
    for (size_t i = 0; i < images.size(); ++i) {
        std::string what = "photo " + std::to_string(i + 1);
        try {
            mats.emplace_back(what, vision::decode_image(images[i], what));
        } catch (const std::exception& e) {
            throw std::invalid_argument(e.what());
        }
    }
    return enroll_mats(elder_id, mats, actor);
}

int FaceService::enroll_mats(int64_t elder_id, const std::vector<std::pair<std::string, cv::Mat>>& images,
                             const std::string& actor) {
    auto elder = roster_.get(elder_id);
    if (!elder) throw std::invalid_argument("elder " + std::to_string(elder_id) + " does not exist");
    if (!elder->consent_at || elder->consent_by.empty())
        throw std::invalid_argument("no consent recorded for " + elder->name +
                                    ": record the separate face-recognition consent first (PIPL art. 29)");
    if (images.empty() || images.size() > 5) throw std::invalid_argument("enroll 1 to 5 photos");
    std::vector<std::pair<vision::Descriptor, double>> found;
    for (auto& [what, img] : images) {
        std::vector<vision::DetectedFace> faces;
        {
            std::lock_guard<std::mutex> lock(engine_mu_);
            faces = engine_.analyze(img);
        }
        if (faces.empty())
            throw std::invalid_argument(what + "：未找到人脸，请让老人正对镜头重拍 (" + what +
                                        ": no face found)");
        // Someone small in the background does not spoil the photo: the elder's face is the largest by
        // far (2.5× the area of the next). Two faces of a like size are refused: which one is the elder?
        std::sort(faces.begin(), faces.end(),
                  [](const auto& a, const auto& b) { return a.box.area() > b.box.area(); });
        if (faces.size() > 1 && faces[0].box.area() < 2.5 * faces[1].box.area())
            throw std::invalid_argument(what + "：照片中有 " + std::to_string(faces.size()) +
                                        " 张人脸，请只拍老人本人 (" + std::to_string(faces.size()) +
                                        " faces; use a photo of the elder alone)");
        if (!faces[0].reject_reason.empty())
            throw std::invalid_argument(what + "：" + enrollment_advice(faces[0].reject_reason) + " (" +
                                        faces[0].reject_reason + ")");
        found.emplace_back(*faces[0].descriptor, faces[0].quality);
    }
    std::vector<int64_t> ids;
    store_.write([&](sqlite3* db) {
        for (auto& [d, q] : found) ids.push_back(templates_.add(db, elder_id, d, q, engine_.model_id()));
        Store::audit(db, actor, "face.enroll", "elder:" + std::to_string(elder_id),
                     json{{"templates", found.size()}, {"consent_by", elder->consent_by}}.dump(),
                     clock_.now_ms());
    });
    for (size_t i = 0; i < found.size(); ++i) gallery_.add(ids[i], elder_id, found[i].first);
    // Photos are not kept unless the site asks for it.
    if (cfg_.face.keep_enrollment_photos) {
        std::string dir = cfg_.store.media_dir + "/enrollment/" + std::to_string(elder_id);
        std::filesystem::create_directories(dir);
        for (size_t i = 0; i < images.size(); ++i)
            cv::imwrite(dir + "/" + std::to_string(ids[i]) + ".jpg", images[i].second);
    }
    return static_cast<int>(found.size());
}

int FaceService::forget(int64_t elder_id, const std::string& actor) {
    int n = templates_.forget(elder_id, actor);
    gallery_.remove_elder(elder_id);
    if (on_forget_) on_forget_(elder_id);
    std::error_code ec;
    std::filesystem::remove_all(cfg_.store.media_dir + "/enrollment/" + std::to_string(elder_id), ec);
    return n;
}

int FaceService::template_count(int64_t elder_id) { return templates_.count(elder_id); }

std::vector<Identification> FaceService::identify(const cv::Mat& bgr) {
    std::vector<vision::DetectedFace> faces;
    {
        std::lock_guard<std::mutex> lock(engine_mu_);
        faces = engine_.analyze(bgr);
    }
    std::vector<Identification> out;
    for (auto& f : faces) {
        Identification id{f, {}};
        if (f.descriptor) id.match = gallery_.match(*f.descriptor, threshold_, cfg_.face.margin);
        out.push_back(id);
    }
    return out;
}

void FaceService::follow_store() {
    // The CLI enrolls and forgets beside the running daemon: its gallery follows within seconds.
    int64_t now = Heartbeat::steady_ms();
    int64_t last = last_generation_check_.load();
    if (now - last < 2000 || !last_generation_check_.compare_exchange_strong(last, now)) return;
    try {
        if (templates_.generation() != loaded_generation_) {
            std::lock_guard<std::mutex> lock(reload_mu_);
            if (templates_.generation() != loaded_generation_) {
                reload();
                // A tracked face keeps the identity it was given: decide everyone again.
                std::lock_guard<std::mutex> tracks(tracks_mu_);
                tracks_.clear();
            }
        }
    } catch (const std::exception& e) {
        logger("face")->warn("gallery reload failed: {}", e.what());
    }
}

void FaceService::frame(const config::Camera& cam, const cv::Mat& bgr, int64_t ts) {
    follow_store();
    // Detect and landmark every frame (cheap), but embed a tracked face only when it is new, its
    // quality improved, or a second has passed: the same person is not re-embedded 5 times a second.
    std::vector<vision::DetectedFace> faces;
    {
        std::lock_guard<std::mutex> lock(engine_mu_);
        faces = engine_.analyze(bgr, false);
    }
    auto thermal_it = thermal_.find(cam.id);
    ThermalCamera* thermal = thermal_it == thermal_.end() ? nullptr : thermal_it->second;
    std::lock_guard<std::mutex> lock(tracks_mu_);
    auto& tracks = tracks_[cam.id];
    tracks.erase(
        std::remove_if(tracks.begin(), tracks.end(), [&](const Track& t) { return ts - t.last_seen > 2000; }),
        tracks.end());
    for (auto& f : faces) {
        Track* t = nullptr;
        for (auto& tr : tracks)
            if (iou(tr.box, f.box) > 0.3) t = &tr;
        if (!t) {
            tracks.emplace_back();
            t = &tracks.back();
            t->first_seen = ts;
        }
        t->box = f.box;
        t->last_seen = ts;
        t->blink.update(f.landmarks, ts);
        if (!f.reject_reason.empty()) continue;
        if (!t->elder_id || f.quality > t->best_quality + 0.1 || ts - t->last_embed > 1000) {
            vision::Descriptor d;
            {
                std::lock_guard<std::mutex> elock(engine_mu_);
                d = engine_.embed(bgr, f);
            }
            auto m = gallery_.match(d, threshold_, cfg_.face.margin);
            t->last_embed = ts;
            t->best_quality = std::max(t->best_quality, f.quality);
            if (m.elder_id)
                t->elder_id = m.elder_id, t->distance = m.distance;
            else if (!t->elder_id)
                t->distance = m.distance;
        }
        bool live = !cfg_.face.liveness || t->blink.live();
        if (t->elder_id && cfg_.face.liveness && !live) {
            auto e = roster_.get(*t->elder_id);
            live = e && e->liveness_exempt;
        }
        // Announce once per track: recognised (and live when required), or a visitor after 1 s.
        // An unknown face is a visitor only after 1.5 s of trying: a bad first angle is not a stranger.
        bool visitor_ready = !t->elder_id && t->last_embed && ts - t->first_seen >= 1500;
        if (thermal && bus_ && t->elder_id && ts - t->last_thermal >= 1000) {
            std::string why;
            if (auto m = thermal->measure(f.box, &f.landmarks, clock_.now_ms(), &why)) {
                t->last_thermal = ts;
                bus_->publish(TemperatureReading{thermal->id(), m->celsius, ts, t->elder_id});
            } else {
                logger("face")->debug("{}: no thermal reading for the face at {}: {}", cam.id, ts, why);
            }
        }
        if (!t->announced && ((t->elder_id && live) || visitor_ready)) {
            t->announced = true;
            if (bus_)
                bus_->publish(FaceSeen{cam.id, cam.zone, cam.role, t->elder_id, t->distance, f.box.x, f.box.y,
                                       f.box.x + f.box.width, f.box.y + f.box.height, live, ts});
        }
    }
}

}  // namespace caregate
