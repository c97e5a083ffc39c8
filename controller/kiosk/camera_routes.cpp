// The kiosk's live look at the rooms: the camera list, each camera's live picture as MJPEG
// (multipart/x-mixed-replace, for an <img>) and its newest picture as one JPEG (for clients that poll).
// Staff only (every /api route needs a login); a camera in a private zone is never served, whatever
// the config loader let through; each look is audited (who, which camera, when).
#include <httplib.h>

#include "controller/cctv/live_view.hpp"
#include "controller/core/log.hpp"
#include "controller/kiosk/api.hpp"
#include "controller/kiosk/kiosk.hpp"

namespace caregate {

using nlohmann::json;

namespace {

constexpr const char* kBoundary = "cgframe";

// One part of the multipart stream: its headers, the JPEG, and the line that ends it.
std::string part_header(const LiveView::Frame& f) {
    return std::string("--") + kBoundary +
           "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(f.jpeg->size()) +
           "\r\nX-Frame-Seq: " + std::to_string(f.seq) + "\r\nX-Frame-Time: " + std::to_string(f.ts_ms) +
           "\r\n\r\n";
}

}  // namespace

void Kiosk::camera_routes(httplib::Server& s) {
    // The camera may be shown to this session: 404 naming an unknown camera, 403 for a private zone,
    // 503 without a live view. Fills res and returns false otherwise.
    auto servable = [this](const std::string& id, httplib::Response& res) {
        const config::Camera* cam = nullptr;
        for (auto& c : p_.cfg.cameras)
            if (c.id == id) cam = &c;
        if (!cam) {
            api::fail(res, 404, api::Msg::no_such_camera);
            return false;
        }
        const config::Zone* zone = p_.cfg.find_zone(cam->zone);
        if ((zone && zone->is_private) ||
            (p_.live_view && p_.live_view->access(id) == LiveView::Access::private_zone)) {
            api::fail(res, 403, api::Msg::camera_private);
            return false;
        }
        if (!p_.live_view || p_.live_view->access(id) != LiveView::Access::ok) {
            api::fail(res, 503, api::Msg::live_view_off);
            return false;
        }
        return true;
    };
    auto audit = [this](const Session& sess, const std::string& id, const std::string& via,
                        const httplib::Request& req) {
        p_.store.write([&](sqlite3* db) {
            Store::audit(db, sess.who.username, "camera.live_view", "camera:" + id,
                         json{{"via", via}, {"session", sess.id}, {"client", req.remote_addr}}.dump(),
                         p_.clock.now_ms());
        });
    };

    s.Get("/api/cameras", [this](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        json out = json::array();
        for (auto& c : p_.cfg.cameras) {
            const config::Zone* zone = p_.cfg.find_zone(c.zone);
            bool live = p_.live_view && p_.live_view->access(c.id) == LiveView::Access::ok &&
                        !(zone && zone->is_private);
            out.push_back({{"id", c.id},
                           {"name", c.name.empty() ? c.id : c.name},
                           {"zone", c.zone},
                           {"zone_name", p_.cfg.zone_name(c.zone)},
                           {"live", live}});
        }
        api::reply(res, {{"cameras", out}});
    });

    // MJPEG for an <img>: one pool thread per stream, at most LiveViewOptions::max_streams in all.
    s.Get(R"(/api/cameras/([^/]+)/live)",
          [this, servable, audit](const httplib::Request& req, httplib::Response& res) {
              auto sess = reader(req, res);
              if (!sess) return;
              std::string id = req.matches[1];
              if (!servable(id, res)) return;
              LiveView* live = p_.live_view;
              auto slot = live->open_stream();
              if (!slot)
                  return api::fail(res, 503, api::Msg::live_view_full,
                                   "最多 " + std::to_string(live->options().max_streams) + " 路");
              audit(*sess, id, "mjpeg", req);
              logger("kiosk")->info("live view of camera {} opened by {}", id, sess->who.username);
              res.set_header("Cache-Control", "no-store");
              res.set_header("X-Accel-Buffering", "no");
              res.set_chunked_content_provider(
                  std::string("multipart/x-mixed-replace; boundary=") + kBoundary,
                  [live, id, slot, seq = uint64_t(0), last = std::optional<LiveView::Frame>(), quiet = 0](
                      size_t, httplib::DataSink& sink) mutable {
                      if (live->closed()) return false;
                      auto f = live->wait_newer(id, seq, std::chrono::seconds(1));
                      if (!f) {
                          if (live->closed()) return false;
                          // No new picture (camera stalled): every 2 s the last one again, which also
                          // finds out when the viewer has gone.
                          if (++quiet < 2 || !last) return true;
                          f = last;
                      }
                      quiet = 0;
                      seq = f->seq;
                      last = f;
                      std::string head = part_header(*f);
                      return sink.write(head.data(), head.size()) &&
                             sink.write(f->jpeg->data(), f->jpeg->size()) && sink.write("\r\n", 2);
                  },
                  [slot](bool) {});
          });

    // The newest picture as one JPEG, for clients that poll (?after=SEQ waits for a newer one).
    s.Get(R"(/api/cameras/([^/]+)/frame\.jpg)",
          [this, servable, audit](const httplib::Request& req, httplib::Response& res) {
              auto sess = reader(req, res);
              if (!sess) return;
              std::string id = req.matches[1];
              if (!servable(id, res)) return;
              uint64_t after = 0;
              std::string a = req.get_param_value("after");
              if (!a.empty() && a.size() <= 18 && a.find_first_not_of("0123456789") == std::string::npos)
                  after = std::stoull(a);
              if (p_.live_view->first_look(sess->id, id)) audit(*sess, id, "jpeg", req);
              auto f = p_.live_view->wait_newer(id, after, std::chrono::seconds(2));
              if (!f) return api::fail(res, 503, api::Msg::camera_no_picture);
              res.set_header("Cache-Control", "no-store");
              res.set_header("X-Frame-Seq", std::to_string(f->seq));
              res.set_header("X-Frame-Time", std::to_string(f->ts_ms));
              res.set_content(*f->jpeg, "image/jpeg");
          });
}

}  // namespace caregate
