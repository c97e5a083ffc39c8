// The kiosk's face routes: enrollment from photos or from the door camera (the elder stands there
// and the box takes the best frames), the wrong-record warnings staff confirm, forgetting, and the
// elders whose templates should be taken again. Writes need a staff login and the CSRF token.
#include <httplib.h>

#include "controller/kiosk/api.hpp"
#include "controller/kiosk/kiosk.hpp"

namespace caregate {

using nlohmann::json;

namespace {
// What staff read beside the elder's name in the list of who should be enrolled again.
const char* renewal_text(const std::string& reason) {
    if (reason == "old_templates") return "人脸模板已超过一年，请重新录入";
    if (reason == "model_changed") return "识别模型已更换，旧的人脸模板用不上了，请重新录入";
    if (reason == "not_recognised") return "最近来了几次，门口都没认出来，请重新录入";
    return "最近识别越来越吃力，请重新录入";
}
}  // namespace

void Kiosk::face_routes(httplib::Server& s) {
    // Runs an enrollment; a warning is 409 with code enroll_warning (the page asks, then repeats the
    // request with confirm=1), any other refusal 400 with the reason.
    auto enrolling = [](httplib::Response& res, const std::function<int(std::vector<std::string>&)>& fn) {
        try {
            std::vector<std::string> notes;
            int n = fn(notes);
            api::reply(res, {{"templates", n}, {"notes", notes}});
        } catch (const EnrollmentWarning& w) {
            api::reply(res, {{"error", w.what()}, {"code", "enroll_warning"}}, 409);
        } catch (const FaceChoiceNeeded& c) {
            // Staff point at the elder on the photo (the page draws these boxes) and send again.
            json faces = json::array();
            for (auto& f : c.faces) faces.push_back({f.x, f.y, f.width, f.height});
            api::reply(res,
                       {{"error", c.what()},
                        {"code", "choose_face"},
                        {"photo", c.photo},
                        {"width", c.width},
                        {"height", c.height},
                        {"faces", faces}},
                       409);
        } catch (const std::exception& e) {
            api::fail(res, 400, e, api::Msg::bad_field);
        }
    };
    s.Post(R"(/api/elders/(\d+)/enroll)",
           [this, enrolling](const httplib::Request& req, httplib::Response& res) {
               auto sess = writer(req, res);
               if (!sess) return;
               if (!p_.faces) return api::fail(res, 503, api::Msg::faces_off);
               std::vector<std::string> images;
               for (auto& [name, file] : req.files) images.push_back(file.content);
               if (images.empty()) return api::fail(res, 400, "请上传 1 到 5 张照片", api::Msg::bad_field);
               bool confirmed = req.get_param_value("confirm") == "1";
               // pick0 … pick4 = "x,y": the point staff chose on that photo (choose_face above).
               std::vector<std::optional<FacePick>> picks(images.size());
               for (size_t i = 0; i < picks.size(); ++i) {
                   std::string v = req.get_param_value("pick" + std::to_string(i));
                   if (v.empty()) continue;
                   picks[i] = parse_face_pick(v);
                   if (!picks[i])
                       return api::fail(res, 400, "所点的位置无效，请重新点选老人的脸", api::Msg::bad_field);
               }
               enrolling(res, [&](std::vector<std::string>& notes) {
                   return p_.faces->enroll(std::stoll(req.matches[1]), images, sess->who.username, confirmed,
                                           &notes, picks);
               });
           });
    s.Post(R"(/api/elders/(\d+)/enroll_camera)",
           [this, enrolling](const httplib::Request& req, httplib::Response& res) {
               auto sess = writer(req, res);
               if (!sess) return;
               if (!p_.faces) return api::fail(res, 503, api::Msg::faces_off);
               auto j = api::body(req, res);
               if (!j) return;
               std::string camera = api::str_field(*j, "camera", "");
               bool known = false;
               for (auto& c : p_.cfg.cameras) known = known || (c.id == camera && c.faces);
               if (!known)
                   return api::fail(res, 400, "请选择一个做人脸识别的摄像头（门口摄像头）",
                                    api::Msg::no_such_camera);
               bool confirmed = j->value("confirm", false);
               enrolling(res, [&](std::vector<std::string>&) {
                   return p_.faces->enroll_from_camera(std::stoll(req.matches[1]), camera, sess->who.username,
                                                       confirmed);
               });
           });
    s.Post(R"(/api/elders/(\d+)/forget)", [this](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        if (!p_.faces) return api::fail(res, 503, api::Msg::faces_off);
        int n = p_.faces->forget(std::stoll(req.matches[1]), sess->who.username);
        api::reply(res, {{"deleted", n}});
    });
    // The cameras an elder can be enrolled at, and who should be enrolled again.
    s.Get("/api/faces", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        json cams = json::array(), renew = json::array();
        for (auto& c : p_.cfg.cameras)
            if (c.faces)
                cams.push_back({{"id", c.id}, {"name", c.name.empty() ? c.id : c.name}, {"role", c.role}});
        if (p_.faces)
            for (auto& r : p_.faces->renewals()) {
                json x = {{"elder_id", r.elder_id},
                          {"name", r.name},
                          {"reason", r.reason},
                          {"reason_text", renewal_text(r.reason)},
                          {"newest_template_ms", r.newest_template_ms}};
                if (r.recent_distance) x["recent_distance"] = *r.recent_distance;
                if (r.baseline_distance) x["baseline_distance"] = *r.baseline_distance;
                renew.push_back(x);
            }
        api::reply(res, {{"enabled", p_.faces != nullptr}, {"cameras", cams}, {"renewals", renew}});
    });
}

}  // namespace caregate
