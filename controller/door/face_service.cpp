#include "controller/door/face_service.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <tuple>

#include "controller/core/log.hpp"
#include "vision/photo_subject.hpp"

namespace caregate {

using nlohmann::json;

vision::FaceEngineOptions face_engine_options(const config::Face& f) {
    vision::FaceEngineOptions o;
    o.recognition_model = f.recognition_model;
    o.landmark_model = f.landmark_model;
    o.detect_width = f.detect_width;
    o.mmod_model = f.mmod_model;
    o.photo_mmod_model = f.photo_detector_model;
    o.min_face_px = f.min_face_px;
    o.min_sharpness = f.min_sharpness;
    return o;
}

namespace {
// The door's engine analyses camera frames only: the photo CNN is the desk engine's.
vision::FaceEngineOptions door_engine_options(const config::Face& f) {
    auto o = face_engine_options(f);
    o.photo_mmod_model.clear();
    return o;
}

// Enrollment at the door camera takes the faces of its last frame only if that frame is this recent
// (a track is dropped after 2 s without its face, so a live camera is well inside).
constexpr int64_t kCameraEnrollSilenceMs = 2000;
// Templates an elder should have: with one photo enrolled the door named 90.8 % of older East Asian
// faces, with two (and their mean) 96.0 % (docs/face-accuracy.md); fewer than this is said, not refused.
constexpr int kSuggestedTemplates = 3;
// With face.liveness, an elder recognised who has not blinked this long after is asked to (most
// people blink every few seconds, and are not told to when they already did).
constexpr int64_t kAskBlinkAfterMs = 1500;
// A door frame at detect_width finds faces from about this width (Faces.ADoorFrameFindsFacesFrom64Px).
constexpr int kDoorMinFacePx = 60;

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
      engine_(door_engine_options(cfg.face)),
      desk_engine_(face_engine_options(cfg.face), engine_),
      threshold_(vision::recognition_threshold(cfg.face.recognition_model, cfg.face.threshold)),
      same_person_limit_(std::max(threshold_, engine_.same_person_limit())) {
    if (!vision::is_known_recognition_model(engine_.model_id()))
        logger("face")->warn(
            "face.recognition_model {} is not a model the shipped thresholds were measured with (its id "
            "is {}): it matches at distance {}, which was not measured for it; run `caregate face eval` "
            "and `caregate face calibrate` before relying on it (a dlib model made by an old `face "
            "import-weights` is known again once made anew)",
            cfg.face.recognition_model, engine_.model_id(), threshold_);
    if (cfg.face.mmod_model.empty() && !cfg.face.photo_detector_model.empty() &&
        !desk_engine_.has_photo_fallback())
        logger("face")->warn(
            "face.photo_detector_model {} is not there: an enrollment photo in which HOG "
            "finds no face (a turned head, a cap) is refused; install the package's model",
            cfg.face.photo_detector_model);
    reload();
}

FaceService::~FaceService() = default;

namespace {
// What staff do about a face the quality check refused, in words they use: for a photo, and for the
// elder standing at the door camera.
struct Advice {
    const char* reason;  // FaceEngine's reject_reason, or its start
    const char* photo;
    const char* door;
};
constexpr Advice kAdvice[] = {
    {"face too small", "人脸太小，请靠近一些重拍", "人脸太小，请长者走近摄像头"},
    {"too blurred", "照片太模糊，请拿稳手机重拍", "画面模糊，请长者站定别动"},
    {"too dark", "光线太暗，请到亮处重拍", "光线太暗，请打开门口的灯"},
    {"overexposed", "照片过亮，请避开强光重拍", "画面过亮，请避开逆光或强光"},
    {"not facing the camera", "老人没有正对镜头，请正面重拍", "长者没有正对摄像头，请看着摄像头"},
};
std::string advice(const std::string& reason, bool door) {
    for (auto& a : kAdvice)
        if (reason.rfind(a.reason, 0) == 0) return door ? a.door : a.photo;
    return door ? "请长者看着摄像头多站两秒" : "照片不合格，请重拍";
}

// Why an uploaded photo could not be read, and what staff do: an iPhone's HEIC photo (an ISO media
// file, "ftyp" at byte 4 with a HEIF brand) gets the iPhone's own way out.
std::string unreadable_photo_advice(const std::string& bytes) {
    if (bytes.size() >= 12 && bytes.compare(4, 4, "ftyp") == 0) {
        std::string brand = bytes.substr(8, 4);
        for (const char* heif : {"heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"})
            if (brand == heif)
                return "是苹果手机的 HEIC 格式，读不了：请在相册里分享时选“存储为 JPEG”，"
                       "或在 设置→相机→格式 中选“兼容性最佳”后重拍";
    }
    return "无法读取：请上传手机或相机拍的 JPEG 或 PNG 照片";
}
}  // namespace

void FaceService::reload() {
    int64_t generation =
        templates_.generation();  // before reading: a change during the load is seen next time
    const std::string model = engine_.model_id();
    vision::Gallery fresh;
    std::vector<int64_t> unreadable;
    for (auto& t : templates_.load_all(model, &unreadable)) fresh.add(t.id, t.elder_id, t.descriptor);
    if (!unreadable.empty())
        logger("face")->error(
            "{} face templates cannot be decrypted and are left out (ids {}): the database was changed "
            "outside CareGate; the elders they belong to may need enrolling again",
            unreadable.size(), fmt::join(unreadable, ", "));
    if (on_gallery_reload_) on_gallery_reload_();
    gallery_.take(fresh);
    loaded_generation_ = generation;
    logger("face")->info("gallery loaded: {} templates of {} (match distance {})", gallery_.size(), model,
                         threshold_);
    // Descriptors of two models are not comparable: those elders must enroll again (ids, not names,
    // in the log); the kiosk lists them with the renewals (reason model_changed).
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

namespace {
// Before anything is stored: the elder exists and gave the separate consent face recognition needs.
Elder enrollable(Roster& roster, int64_t elder_id) {
    auto elder = roster.get(elder_id);
    if (!elder) throw std::invalid_argument("没有编号为 " + std::to_string(elder_id) + " 的长者");
    if (!elder->consent_at || elder->consent_by.empty())
        throw std::invalid_argument(
            elder->name +
            " 还没有登记人脸识别的单独同意：请先在长者档案中记录同意（个人信息保护法第二十九条）");
    return *elder;
}
}  // namespace

int FaceService::enroll(int64_t elder_id, const std::vector<std::string>& images, const std::string& actor,
                        bool confirmed, std::vector<std::string>* notes,
                        const std::vector<std::optional<FacePick>>& picks) {
    return enroll_photos(
        elder_id, images.size(),
        [&](size_t i) {
            std::string what = "第 " + std::to_string(i + 1) + " 张照片";
            try {
                return std::make_pair(what, vision::decode_image(images[i], what));
            } catch (const std::exception& e) {
                logger("face")->info("photo {} for elder {} not decoded: {}", i + 1, elder_id, e.what());
                throw std::invalid_argument(what + unreadable_photo_advice(images[i]));
            }
        },
        actor, confirmed, notes, picks);
}

int FaceService::enroll_files(int64_t elder_id, const std::vector<std::string>& paths,
                              const std::string& actor, bool confirmed, std::vector<std::string>* notes) {
    return enroll_photos(
        elder_id, paths.size(),
        [&](size_t i) { return std::make_pair(paths[i], vision::load_image(paths[i])); }, actor, confirmed,
        notes);
}

int FaceService::enroll_mats(int64_t elder_id, const std::vector<std::pair<std::string, cv::Mat>>& images,
                             const std::string& actor, bool confirmed, std::vector<std::string>* notes) {
    return enroll_photos(
        elder_id, images.size(), [&](size_t i) { return images[i]; }, actor, confirmed, notes);
}

int FaceService::enroll_photos(int64_t elder_id, size_t count,
                               const std::function<std::pair<std::string, cv::Mat>(size_t)>& photo,
                               const std::string& actor, bool confirmed, std::vector<std::string>* notes,
                               const std::vector<std::optional<FacePick>>& picks) {
    enrollable(roster_, elder_id);
    if (count == 0 || count > 5) throw std::invalid_argument("请上传 1 到 5 张照片");
    // One photo decoded at a time: five phone photos of up to 40 MP each are 600 MB decoded.
    PhotoFaces faces;
    for (size_t i = 0; i < count; ++i) {
        auto [what, img] = photo(i);
        add_photo_face(faces, i, what, img, i < picks.size() ? picks[i] : std::nullopt);
    }
    return store_photo_faces(elder_id, faces, actor, confirmed, notes);
}

void FaceService::add_photo_face(PhotoFaces& out, size_t photo, const std::string& what, const cv::Mat& img,
                                 std::optional<FacePick> pick) {
    std::vector<vision::DetectedFace> faces;
    {
        // The desk's own engine: the door camera goes on while a photo is analysed.
        std::lock_guard<std::mutex> lock(desk_mu_);
        if (on_photo_analysis_) on_photo_analysis_();
        faces = desk_engine_.analyze_photo(img);
    }
    if (faces.empty()) throw std::invalid_argument(what + "：未找到人脸，请让老人正对镜头重拍");
    // Someone else in the picture does not spoil it when the elder is plainly its subject: the
    // largest face by far, or the one in the middle among faces of a like size. Otherwise staff
    // point at the elder.
    vision::PhotoSubject subject;
    if (pick) {
        // The smallest box holding the point: a face in front of a larger one behind it.
        for (size_t k = 0; k < faces.size(); ++k)
            if (faces[k].box.contains({pick->x, pick->y}) &&
                (!subject.index || faces[k].box.area() < faces[*subject.index].box.area()))
                subject.index = k;
        if (!subject.index) throw std::invalid_argument(what + "：所点的位置没有人脸，请点在老人的脸上");
        subject.others = faces.size() - 1;
    } else {
        subject = vision::choose_subject(faces, img.size());
    }
    if (!subject.index) {
        std::vector<FaceBox> boxes;
        for (auto& f : faces) boxes.push_back({f.box.x, f.box.y, f.box.width, f.box.height});
        throw FaceChoiceNeeded(what + "：照片中有 " + std::to_string(subject.like_size) +
                                   " 张差不多大的人脸，分不清哪位是老人：请只拍老人本人，或让老人在照片正中",
                               photo, img.cols, img.rows, std::move(boxes));
    }
    const vision::DetectedFace& face = faces[*subject.index];
    if (!face.reject_reason.empty())
        throw std::invalid_argument(what + "：" + advice(face.reject_reason, false));
    if (subject.by_centre)
        out.notes.push_back(what + "：照片中有 " + std::to_string(faces.size()) +
                            " 张人脸，录入了正中的一张，请确认是老人本人");
    else if (pick && subject.others)
        out.notes.push_back(what + "：录入了所点选的一张人脸");
    else if (subject.others)
        out.notes.push_back(what + "：另有 " + std::to_string(subject.others) +
                            " 张较小的人脸（背景中的人），只录入了最大的一张");
    out.found.emplace_back(*face.descriptor, face.quality);
    // Re-encoded, not the upload's bytes: a phone's EXIF carries where the photo was taken.
    if (cfg_.face.keep_enrollment_photos) {
        out.kept.emplace_back();
        cv::imencode(".jpg", img, out.kept.back());
    }
}

int FaceService::store_photo_faces(int64_t elder_id, PhotoFaces& faces, const std::string& actor,
                                   bool confirmed, std::vector<std::string>* notes) {
    int n = store_enrollment(elder_id, faces.found, actor, confirmed, "photo", faces.kept);
    if (int have = template_count(elder_id); have < kSuggestedTemplates)
        faces.notes.push_back("目前共有 " + std::to_string(have) + " 个人脸模板：再录入 " +
                              std::to_string(kSuggestedTemplates - have) +
                              " 张不同日子拍的照片，或请长者在门口摄像头前录入，认得更准");
    if (notes) notes->insert(notes->end(), faces.notes.begin(), faces.notes.end());
    return n;
}

int FaceService::enroll_from_camera(int64_t elder_id, const std::string& camera_id, const std::string& actor,
                                    bool confirmed) {
    enrollable(roster_, elder_id);
    std::vector<std::pair<vision::Descriptor, double>> found;
    {
        std::lock_guard<std::mutex> lock(tracks_mu_);
        auto it = tracks_.find(camera_id);
        auto last = last_frame_.find(camera_id);
        if (it == tracks_.end() || last == last_frame_.end())
            throw std::invalid_argument("所选摄像头没有在做人脸识别，或还没有画面，请换一个摄像头或稍后再试");
        // A camera that stopped sending frames still holds the faces it saw last: whoever stood
        // there minutes ago is not the elder staff have open now.
        if (int64_t silent = clock_.now_ms() - last->second; silent > kCameraEnrollSilenceMs)
            throw std::invalid_argument("所选摄像头已有 " + std::to_string(silent / 1000) +
                                        " 秒没有画面：请检查摄像头，等画面恢复后再按一次");
        // Faces seen in the last second: the person standing there now.
        std::vector<const Track*> now;
        for (auto& t : it->second)
            if (last->second - t.last_seen <= 1000) now.push_back(&t);
        if (now.empty())
            throw std::invalid_argument("镜头前没有看到人脸：请长者正对门口摄像头站好，再按一次");
        if (now.size() > 1)
            throw std::invalid_argument("镜头前有 " + std::to_string(now.size()) +
                                        " 个人：请只让这位长者站在摄像头前，再按一次");
        if (now[0]->best.size() < 3)
            throw std::invalid_argument("还没有拍到足够清楚的正脸：" + advice(now[0]->last_refusal, true) +
                                        "，再按一次");
        for (auto& smp : now[0]->best) found.emplace_back(smp.descriptor, smp.quality);
    }
    return store_enrollment(elder_id, found, actor, confirmed, "camera:" + camera_id);
}

int FaceService::store_enrollment(int64_t elder_id,
                                  const std::vector<std::pair<vision::Descriptor, double>>& found,
                                  const std::string& actor, bool confirmed, const std::string& source,
                                  const std::vector<std::vector<unsigned char>>& kept) {
    Elder elder = enrollable(roster_, elder_id);
    // The photos must show one person. Not the match threshold: photos of one elder from different
    // years are often further apart than that, and refusing them would leave the elder unenrolled.
    for (size_t i = 0; i < found.size(); ++i)
        for (size_t j = i + 1; j < found.size(); ++j)
            if (vision::distance(found[i].first, found[j].first) > same_person_limit_)
                // From the door camera staff uploaded no photos: someone else came into view.
                throw std::invalid_argument(
                    source.rfind("camera:", 0) == 0
                        ? std::string("镜头里先后出现了不同的人：请只让这位长者站在摄像头前，再按一次录入")
                        : "第 " + std::to_string(i + 1) + " 张和第 " + std::to_string(j + 1) +
                              " 张不像同一个人：请只用这位长者本人的照片");
    // Wrong-record traps: a face unlike the elder's earlier templates, or like another elder's.
    if (!confirmed) {
        double own = 1e9, other = 1e9;
        int64_t other_id = 0;
        for (auto& t : templates_.load_all(engine_.model_id()))
            for (auto& [d, q] : found) {
                double dist = vision::distance(d, t.descriptor);
                if (t.elder_id == elder_id)
                    own = std::min(own, dist);
                else if (dist < other)
                    other = dist, other_id = t.elder_id;
            }
        if (other <= threshold_ && other < own) {
            auto o = roster_.get(other_id);
            throw EnrollmentWarning("这张脸很像已登记的长者" + (o ? o->name : std::string()) + "（编号 " +
                                    std::to_string(other_id) + "）：请核对是不是选错了长者。确是" +
                                    elder.name + "本人时，可确认后继续登记");
        }
        if (own < 1e9 && own > same_person_limit_)
            throw EnrollmentWarning(
                "这张脸和" + elder.name +
                "已登记的人脸不一致：请核对是不是拍错了人。确是本人（例如容貌变化较大）时，可确认后继续登记");
    }
    std::vector<int64_t> ids;
    // Not while a reload is under way: it may have read the templates before these, and would put
    // its gallery in place after they were added.
    std::lock_guard<std::mutex> reloading(reload_mu_);
    int64_t before = 0, after = 0;
    store_.write([&](sqlite3* db) {
        before = templates_.generation(db);
        for (auto& [d, q] : found) ids.push_back(templates_.add(db, elder_id, d, q, engine_.model_id()));
        after = templates_.generation(db);
        Store::audit(db, actor, "face.enroll", "elder:" + std::to_string(elder_id),
                     json{{"templates", found.size()},
                          {"consent_by", elder.consent_by},
                          {"source", source},
                          {"confirmed_warning", confirmed}}
                         .dump(),
                     clock_.now_ms());
    });
    for (size_t i = 0; i < found.size(); ++i) gallery_.add(ids[i], elder_id, found[i].first);
    // The gallery now holds what the store does, if it did before: no reload, which would make the
    // door decide every face in view again (an elder enrolled while standing there among them).
    if (loaded_generation_ == before) loaded_generation_ = after;
    if (on_templates_stored_) on_templates_stored_();
    // Photos are not kept unless the site asks for it. Written with the templates, before a forget
    // can run: after it they would stay on disk with no one's templates.
    if (!kept.empty()) {
        std::string dir = cfg_.store.media_dir + "/enrollment/" + std::to_string(elder_id);
        std::filesystem::create_directories(dir);
        for (size_t i = 0; i < kept.size(); ++i) {
            std::ofstream f(dir + "/" + std::to_string(clock_.now_ms()) + "_" + std::to_string(i) + ".jpg",
                            std::ios::binary);
            f.write(reinterpret_cast<const char*>(kept[i].data()), std::streamsize(kept[i].size()));
        }
    }
    return static_cast<int>(found.size());
}

int FaceService::forget(int64_t elder_id, const std::string& actor) {
    int n = 0;
    {
        // Not while a reload is under way: it may have read the elder's templates before they were
        // deleted, and would bring them back.
        std::lock_guard<std::mutex> reloading(reload_mu_);
        // And not while an enrollment is being stored: its kept photos are written with it.
        n = templates_.forget(elder_id, actor);
        gallery_.remove_elder(elder_id);
        std::error_code ec;
        std::filesystem::remove_all(cfg_.store.media_dir + "/enrollment/" + std::to_string(elder_id), ec);
    }
    if (on_forget_) on_forget_(elder_id);
    return n;
}

int FaceService::template_count(int64_t elder_id) { return templates_.count(elder_id, engine_.model_id()); }

std::vector<Identification> FaceService::identify(const cv::Mat& bgr) {
    std::vector<vision::DetectedFace> faces;
    {
        std::lock_guard<std::mutex> lock(desk_mu_);
        faces = desk_engine_.analyze_photo(bgr);
    }
    std::vector<Identification> out;
    for (auto& f : faces) {
        Identification id{f, {}};
        if (f.descriptor) id.match = gallery_.match(*f.descriptor, threshold_, cfg_.face.margin);
        out.push_back(id);
    }
    return out;
}

std::map<std::string, std::string> FaceService::camera_advice() {
    std::lock_guard<std::mutex> lock(tracks_mu_);
    std::map<std::string, std::string> out;
    for (auto& [id, size] : wide_frames_)
        out[id] = "画面 " + std::to_string(size.width) + "×" + std::to_string(size.height) +
                  " 比人脸检测用的 " + std::to_string(cfg_.face.detect_width) +
                  " 宽：离得远的长者认不出，要走到脸在画面里约 " +
                  std::to_string(kDoorMinFacePx * size.width / cfg_.face.detect_width) +
                  " 像素宽才认得出。请安装人员改用摄像头的子码流（640 宽），或调高人脸检测宽度";
    return out;
}

void FaceService::follow_store(int64_t now) {
    // The CLI enrolls and forgets beside the running daemon: its gallery follows within seconds.
    int64_t last = last_generation_check_.load();
    if (now - last < 2000 || !last_generation_check_.compare_exchange_strong(last, now)) return;
    try {
        if (templates_.generation() != loaded_generation_) {
            std::lock_guard<std::mutex> lock(reload_mu_);
            if (templates_.generation() != loaded_generation_) {
                reload();
                // A track whose votes were for an elder no longer in the gallery (forgotten, or gone
                // from the roster) is decided again; the others keep their decision, so the elders in
                // view are not greeted again because someone else's templates changed.
                std::lock_guard<std::mutex> tracks(tracks_mu_);
                for (auto& [camera, list] : tracks_)
                    list.erase(std::remove_if(list.begin(), list.end(),
                                              [&](const Track& t) {
                                                  return !t.vote.all_voted([&](int64_t elder) {
                                                      return gallery_.has_elder(elder);
                                                  });
                                              }),
                               list.end());
            }
        }
    } catch (const std::exception& e) {
        logger("face")->warn("gallery reload failed: {}", e.what());
    }
}

void FaceService::frame(const config::Camera& cam, const cv::Mat& bgr, int64_t ts) {
    follow_store(Heartbeat::steady_ms());
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
    if (auto prev = last_frame_.find(cam.id); prev != last_frame_.end() && ts < prev->second) {
        // The box's clock stepped back (NTP after a cold start): every track's times lie ahead, so
        // none would be embedded, checked for a newcomer, or expire until the clock caught up.
        // Decide everyone in view again.
        logger("face")->warn("camera {}: frame time went back {} ms; deciding every face in view again",
                             cam.id, prev->second - ts);
        tracks_[cam.id].clear();
    }
    last_frame_[cam.id] = ts;
    if (bgr.cols <= cfg_.face.detect_width) {
        wide_frames_.erase(cam.id);
    } else if (wide_frames_[cam.id] != bgr.size()) {
        // Searched on a copy detect_width wide, where faces are found from about 60 px: an elder
        // must come that much closer before the door sees a face at all.
        wide_frames_[cam.id] = bgr.size();
        logger("face")->warn(
            "camera {} sends frames {}x{} px, searched for faces at face.detect_width {}: faces are "
            "found only from about {} px across in its frames, so elders must come close; use the "
            "camera's substream (640 wide) or raise face.detect_width (more CPU per frame)",
            cam.id, bgr.cols, bgr.rows, cfg_.face.detect_width,
            kDoorMinFacePx * bgr.cols / cfg_.face.detect_width);
    }
    auto& tracks = tracks_[cam.id];
    tracks.erase(
        std::remove_if(tracks.begin(), tracks.end(), [&](const Track& t) { return ts - t.last_seen > 2000; }),
        tracks.end());
    // One track per face and one face per track, the largest overlap first: two people side by
    // side must not feed one track (the one seen last would vote in the other's name).
    std::vector<std::optional<size_t>> track_of(faces.size());
    {
        std::vector<std::tuple<double, size_t, size_t>> overlaps;  // overlap, face, track
        for (size_t i = 0; i < faces.size(); ++i)
            for (size_t k = 0; k < tracks.size(); ++k)
                if (double o = iou(tracks[k].box, faces[i].box); o > 0.3) overlaps.emplace_back(o, i, k);
        std::sort(overlaps.begin(), overlaps.end(),
                  [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
        std::vector<bool> taken(tracks.size(), false);
        for (auto& [o, i, k] : overlaps)
            if (!track_of[i] && !taken[k]) {
                track_of[i] = k;
                taken[k] = true;
            }
    }
    for (size_t fi = 0; fi < faces.size(); ++fi) {
        const vision::DetectedFace& f = faces[fi];
        if (!track_of[fi]) {
            tracks.emplace_back();
            tracks.back().first_seen = ts;
            track_of[fi] = tracks.size() - 1;
        }
        Track* t = &tracks[*track_of[fi]];
        t->box = f.box;
        t->last_seen = ts;
        t->blink.update(f.landmarks, ts);
        if (!f.reject_reason.empty()) {
            t->last_refusal = f.reject_reason;  // what staff are told if they enroll from here
            continue;
        }
        // Until decided, every frame (at most 10 a second) is embedded and votes; after that, only
        // a better view or one a second. A face called a visitor votes twice a second: someone
        // unknown standing in view all day (a carer, a visitor waiting) costs a fifth of the CPU
        // and gives a look-alike elder a fifth of the chances to be named.
        bool checked_now = false;  // this frame's face was embedded and is the track's own
        const int64_t vote_every = t->announced == Track::Announced::visitor ? 500 : 100;
        bool due = t->elder_id && !t->not_its_face
                       ? f.quality > t->best_quality + 0.1 || ts - t->last_embed > 1000
                       : !t->last_embed || ts - t->last_embed >= vote_every;
        if (due) {
            vision::Descriptor d;
            {
                std::lock_guard<std::mutex> elock(engine_mu_);
                d = engine_.embed(bgr, f);
            }
            auto m = gallery_.match(d, threshold_, cfg_.face.margin);
            // A track keeps checking its face: a track outlives its face by 2 s, so someone may
            // step into the place another just left. Twice in a row unlike the track's best view
            // (beyond the same-person limit), or, once decided, another elder or no one near: the
            // track starts again (vote, greeting, blink, best views), so the newcomer is decided,
            // and enrolled at the door, on their own frames only.
            bool other =
                (!t->best.empty() && vision::distance(d, t->best.front().descriptor) > same_person_limit_) ||
                (t->elder_id &&
                 ((m.elder_id && *m.elder_id != *t->elder_id) || m.distance > same_person_limit_));
            t->not_its_face = other ? t->not_its_face + 1 : 0;
            checked_now = !other;
            if (t->not_its_face >= 2) {
                logger("face")->info("{}: the face in a track (elder {}) is someone else now; deciding again",
                                     cam.id,
                                     t->elder_id ? std::to_string(*t->elder_id) : std::string("none"));
                Track fresh;
                fresh.box = t->box;
                fresh.first_seen = ts;
                fresh.last_seen = ts;
                *t = std::move(fresh);
            }
            // Liveness must come from the face that is recognised: a blink before this track's
            // first frame of an elder (a visitor's, before a photo was held up in the same place)
            // does not count for them.
            if (!t->elder_id && m.elder_id && t->vote.votes(*m.elder_id) == 0) t->blink.reset();
            t->last_embed = ts;
            t->best_quality = std::max(t->best_quality, f.quality);
            if (!t->elder_id) t->vote.add(m);
            if (!t->elder_id) {
                t->elder_id = t->vote.elder(cfg_.face.decide_frames);
                if (t->elder_id) t->decided_at = ts;
                t->distance = t->elder_id ? t->vote.mean_distance(*t->elder_id) : t->vote.best_distance();
            }
            // The best views of the track, at least 200 ms apart, for enrollment at the door. Not
            // a view unlike them (someone else, perhaps): it could become the best view itself and
            // hide the change from the check above.
            if (t->not_its_face == 0) {
                auto near = std::find_if(t->best.begin(), t->best.end(),
                                         [&](const Sample& smp) { return std::abs(smp.ts - ts) < 200; });
                if (near == t->best.end())
                    t->best.push_back({f.quality, std::move(d), ts});
                else if (near->quality < f.quality)
                    *near = {f.quality, std::move(d), ts};
                std::sort(t->best.begin(), t->best.end(),
                          [](const Sample& a, const Sample& b) { return a.quality > b.quality; });
                if (t->best.size() > 3) t->best.resize(3);
            }
        }
        bool live = !cfg_.face.liveness || t->blink.live();
        if (t->elder_id && cfg_.face.liveness && !live) {
            // Read once per decision, not at every frame under the cameras' shared lock.
            if (!t->liveness_exempt) {
                auto e = roster_.get(*t->elder_id);
                t->liveness_exempt = e && e->liveness_exempt;
            }
            live = *t->liveness_exempt;
        }
        // Announce once per track: recognised over several frames (and live when required), or a
        // visitor once enough frames matched no one (TrackVote::visitor). A visitor whose later frames
        // agree on an elder (the first ones were turned away or badly lit) is announced again, named:
        // an elder is not left standing at the door as a stranger.
        using Announced = Track::Announced;
        bool visitor_ready = !t->elder_id && t->announced == Announced::nothing &&
                             t->vote.visitor(cfg_.face.decide_frames, ts - t->first_seen);
        bool elder_ready = t->elder_id && live && t->announced != Announced::elder;
        // Recognised, not yet live: the gate asks the elder, once, to blink at the screen.
        bool blink_needed = t->elder_id && !live && t->announced != Announced::asked &&
                            t->announced != Announced::elder && ts - t->decided_at >= kAskBlinkAfterMs;
        // A forehead reading carries the elder's id only from a frame whose face was just checked to
        // be theirs: someone stepping into their place in the second between embeddings is not them.
        if (thermal && bus_ && t->elder_id && checked_now && ts - t->last_thermal >= 1000) {
            std::string why;
            if (auto m = thermal->measure(f.box, &f.landmarks, clock_.now_ms(), &why)) {
                t->last_thermal = ts;
                bus_->publish(TemperatureReading{thermal->id(), m->celsius, ts, t->elder_id});
            } else {
                logger("face")->debug("{}: no thermal reading for the face at {}: {}", cam.id, ts, why);
            }
        }
        if (elder_ready || visitor_ready || blink_needed) {
            t->announced = elder_ready    ? Announced::elder
                           : blink_needed ? Announced::asked
                                          : Announced::visitor;
            if (bus_)
                bus_->publish(FaceSeen{cam.id, cam.zone, cam.role, t->elder_id, t->distance, f.box.x, f.box.y,
                                       f.box.x + f.box.width, f.box.y + f.box.height, live, ts});
        }
    }
}

}  // namespace caregate
