// Face check-in on the box: the gallery of encrypted templates loaded into memory, enrollment with
// recorded consent, forgetting, and the per-camera pipeline (track → quality → embed → match →
// blink liveness) that publishes FaceSeen events. Face data never leaves this process except as
// encrypted templates in the local store.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "config/config.hpp"
#include "controller/cctv/camera_worker.hpp"
#include "controller/core/bus.hpp"
#include "controller/door/thermal_camera.hpp"
#include "controller/people/face_enrollment.hpp"
#include "controller/people/face_templates.hpp"
#include "controller/people/roster.hpp"
#include "vision/face_engine.hpp"
#include "vision/gallery.hpp"
#include "vision/liveness.hpp"
#include "vision/track_vote.hpp"

namespace caregate {

struct Identification {
    vision::DetectedFace face;
    vision::Match match;
};

// The face engine a site's config asks for (models, detection width, quality limits): the door's,
// and what `face eval --config` measures.
vision::FaceEngineOptions face_engine_options(const config::Face& f);

class FaceService : public FaceEnrollment, public FrameConsumer {
public:
    // Loads models and templates; throws with the file named when a model or the key is missing.
    FaceService(const config::SiteConfig& cfg, Store& store, const Clock& clock, Roster& roster, Bus* bus);
    ~FaceService() override;

    // Throws EnrollmentWarning (unless `confirmed`) when the photos are beyond the same-person limit
    // from the elder's existing templates or match another elder; std::invalid_argument for photos
    // that cannot be used.
    int enroll(int64_t elder_id, const std::vector<std::string>& images, const std::string& actor,
               bool confirmed = false, std::vector<std::string>* notes = nullptr,
               const std::vector<std::optional<FacePick>>& picks = {}) override;
    // Photo files (the CLI), each read when its turn comes; errors name the file.
    int enroll_files(int64_t elder_id, const std::vector<std::string>& paths, const std::string& actor,
                     bool confirmed = false, std::vector<std::string>* notes = nullptr);
    int enroll_mats(int64_t elder_id, const std::vector<std::pair<std::string, cv::Mat>>& images,
                    const std::string& actor, bool confirmed = false,
                    std::vector<std::string>* notes = nullptr);
    // Enrollment at the door: the elder stands before `camera_id` and the box takes the best frames
    // (up to 3, by quality) of the one face it is tracking there. Same checks as photos.
    int enroll_from_camera(int64_t elder_id, const std::string& camera_id, const std::string& actor,
                           bool confirmed = false) override;
    int forget(int64_t elder_id, const std::string& actor) override;
    int template_count(int64_t elder_id) override;
    std::map<std::string, std::string> camera_advice() override;
    std::vector<TemplateRenewal> renewals() override {
        return templates_.renewals(engine_.model_id(), threshold_, clock_.now_ms());
    }
    // Also told when an elder is forgotten here (the CCTV index drops their recognition events).
    void on_forget(std::function<void(int64_t elder_id)> fn) { on_forget_ = std::move(fn); }

    std::vector<Identification> identify(const cv::Mat& bgr);
    // Called as each enrollment photo starts being analysed, with the desk's engine held: a test
    // pauses there to show the door camera goes on meanwhile.
    void on_photo_analysis(std::function<void()> fn) { on_photo_analysis_ = std::move(fn); }
    // Reloads the gallery when the store's templates changed elsewhere (the CLI, the roster), at
    // most every 2 s of `steady_now_ms`; each frame calls it with the steady clock, a test with the
    // time it chooses.
    void follow_store(int64_t steady_now_ms);
    // Called in a reload once the templates are read, before the gallery is replaced: a test pauses
    // there to show a forget or an enrollment meanwhile is not undone by it.
    void on_gallery_reload(std::function<void()> fn) { on_gallery_reload_ = std::move(fn); }
    // Called in an enrollment once its templates are stored, before its kept photos are written: a
    // test pauses there to show a forget meanwhile takes the photos too.
    void on_templates_stored(std::function<void()> fn) { on_templates_stored_ = std::move(fn); }
    void frame(const config::Camera& cam, const cv::Mat& bgr, int64_t ts_ms) override;
    size_t gallery_size() const { return gallery_.size(); }
    double threshold() const { return threshold_; }  // face.threshold, or the model's calibrated one
    // An entrance camera's thermal camera: faces seen there get a TemperatureReading (at most one per
    // second per tracked face), published before their FaceSeen so the gate pairs them at once.
    void attach_thermal(const std::string& camera_id, ThermalCamera* thermal) {
        thermal_[camera_id] = thermal;
    }

private:
    struct Sample {
        double quality = 0;
        vision::Descriptor descriptor;
        int64_t ts = 0;
    };
    struct Track {
        cv::Rect box;
        int64_t first_seen = 0;
        int64_t last_seen = 0;
        int64_t last_embed = 0;
        int64_t last_thermal = 0;
        double best_quality = 0;
        vision::TrackVote vote;
        std::optional<int64_t> elder_id;  // decided by the vote
        double distance = 1;
        // What the door has said about this face: nothing yet, "visitor" (its frames matched no
        // one; it keeps voting, and is named after all if later frames agree), "asked" (the elder,
        // not yet live: asked to blink), or the elder.
        enum class Announced { nothing, visitor, asked, elder } announced = Announced::nothing;
        int64_t decided_at = 0;               // when the vote named the elder
        std::optional<bool> liveness_exempt;  // the elder's, read from the roster once
        vision::BlinkDetector blink;
        std::vector<Sample> best;  // the best-quality embeddings, for enrollment at the door
        std::string last_refusal;  // the quality gate's latest reason for a frame of this face
        // Embeddings in a row unlike the track's best view, or (decided) not its elder: someone
        // else has stepped into this face's place.
        int not_its_face = 0;
    };
    struct PhotoFaces {  // an enrollment's photos, analysed one at a time
        std::vector<std::pair<vision::Descriptor, double>> found;
        std::vector<std::string> notes;                // for staff
        std::vector<std::vector<unsigned char>> kept;  // JPEGs, with face.keep_enrollment_photos
    };
    // The photos of one enrollment, `photo(i)` read (named, decoded) when its turn comes.
    int enroll_photos(int64_t elder_id, size_t count,
                      const std::function<std::pair<std::string, cv::Mat>(size_t)>& photo,
                      const std::string& actor, bool confirmed, std::vector<std::string>* notes,
                      const std::vector<std::optional<FacePick>>& picks = {});
    void add_photo_face(PhotoFaces& out, size_t photo, const std::string& what, const cv::Mat& img,
                        std::optional<FacePick> pick = std::nullopt);
    int store_photo_faces(int64_t elder_id, PhotoFaces& faces, const std::string& actor, bool confirmed,
                          std::vector<std::string>* notes);
    // Checks and stores enrollment descriptors (with their quality) in one transaction.
    // With `kept`, the photos to keep (face.keep_enrollment_photos), written with the templates.
    int store_enrollment(int64_t elder_id, const std::vector<std::pair<vision::Descriptor, double>>& found,
                         const std::string& actor, bool confirmed, const std::string& source,
                         const std::vector<std::vector<unsigned char>>& kept = {});
    void reload();

    const config::SiteConfig& cfg_;
    Store& store_;
    const Clock& clock_;
    Roster& roster_;
    Bus* bus_;
    TemplateStore templates_;
    std::mutex engine_mu_;       // dlib nets are not thread-safe; cameras take turns
    vision::FaceEngine engine_;  // door frames
    std::mutex desk_mu_;
    vision::FaceEngine desk_engine_;  // staff's photos: the door does not wait for them
    std::function<void()> on_photo_analysis_;
    std::function<void()> on_gallery_reload_, on_templates_stored_;
    double threshold_;          // face.threshold, or the model's calibrated default
    double same_person_limit_;  // enrollment: further apart than this, two photos show two people
    vision::Gallery gallery_;
    std::atomic<int64_t> loaded_generation_{-1};  // the templates' generation the gallery was loaded at
    std::atomic<int64_t> last_generation_check_{0};
    std::mutex reload_mu_;
    std::function<void(int64_t)> on_forget_;
    std::mutex tracks_mu_;
    std::map<std::string, std::vector<Track>> tracks_;  // per camera
    std::map<std::string, int64_t> last_frame_;         // per camera: the newest frame's time
    std::map<std::string, cv::Size> wide_frames_;       // per camera: wider frames than detect_width
    std::map<std::string, ThermalCamera*> thermal_;     // per entrance camera; set before cameras start
};

}  // namespace caregate
