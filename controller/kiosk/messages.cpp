#include "controller/kiosk/messages.hpp"

#include <algorithm>
#include <array>

namespace caregate::api {

namespace {

struct Entry {
    Msg msg;
    const char* code;
    const char* text;
};

// Sentences for staff at the front desk: what went wrong, then what to do.
constexpr Entry kCatalogue[] = {
    {Msg::not_logged_in, "not_logged_in", "请先登录：尚未登录或登录已过期，请重新登录后再试"},
    {Msg::csrf_failed, "csrf_failed", "安全校验失败，请刷新页面后再试"},
    {Msg::admin_only, "admin_only", "需要管理员权限，请让管理员操作"},
    {Msg::own_sessions_only, "own_sessions_only", "只能注销自己的登录"},
    {Msg::wrong_login, "wrong_login", "用户名或密码错误，请重新输入"},
    {Msg::wrong_current_password, "wrong_current_password", "原密码不正确，请重新输入"},
    {Msg::same_password, "same_password", "新密码不能与原密码相同，请换一个新密码"},
    {Msg::too_many_logins, "too_many_logins", "登录失败次数过多，请 15 分钟后再试"},
    {Msg::too_many_pairings, "too_many_pairings", "配对失败次数过多，请 15 分钟后再试"},
    {Msg::pairing_code_invalid, "pairing_code_invalid", "配对码无效或已过期，请管理员重新生成"},
    {Msg::door_not_paired, "door_not_paired", "门口屏未配对：请管理员在“账号”页生成配对码，在门口屏上输入"},
    {Msg::length_required, "length_required", "请求未注明内容长度，请刷新页面后再试"},
    {Msg::body_too_large, "body_too_large", "提交的内容过大，请减少内容后再试"},
    {Msg::bad_json, "bad_json", "提交的内容格式有误，请刷新页面后再试"},
    {Msg::bad_field, "bad_field", "填写的内容有误，请检查后再试"},
    {Msg::bad_path, "bad_path", "文件路径有误，请刷新页面后再试"},
    {Msg::bad_date, "bad_date", "日期须为 2026-12-07 这样的格式"},
    {Msg::bad_month, "bad_month", "月份须为 2026-11 这样的格式"},
    {Msg::bad_hours, "bad_hours", "小时数须为 1 到 168 的整数"},
    {Msg::bad_count, "bad_count", "人数须为 0 到 100000 的整数"},
    {Msg::device_required, "device_required", "请选择设备"},
    {Msg::elder_or_card_required, "elder_or_card_required", "请选择长者或刷卡"},
    {Msg::active_required, "active_required", "请选择启用或停用"},
    {Msg::phone_required, "phone_required", "请填写手机号；留空为清除"},
    {Msg::duty_staff_required, "duty_staff_required", "请选择值班人员"},
    {Msg::duty_weekday, "duty_weekday", "星期须为 1（周一）到 7（周日）"},
    {Msg::duty_start, "duty_start", "开始时间须为 00:00 到 23:59，如 08:00"},
    {Msg::duty_end, "duty_end", "结束时间须为 00:00 到 24:00，如 17:00；到午夜请填 24:00"},
    {Msg::duty_same_time, "duty_same_time", "开始和结束时间不能相同；全天值班请填 00:00 到 24:00"},
    {Msg::cannot_disable_self, "cannot_disable_self", "不能停用自己的账号，请让另一位管理员操作"},
    {Msg::not_found, "not_found", "要找的内容不存在，请刷新页面"},
    {Msg::no_such_elder, "no_such_elder", "没有这位长者，请刷新页面后重新选择"},
    {Msg::no_such_card, "no_such_card", "没有这个卡号的长者，请核对卡号"},
    {Msg::no_such_alarm, "no_such_alarm", "报警不存在，请刷新页面"},
    {Msg::no_such_staff, "no_such_staff", "工作人员不存在，请刷新页面后重新选择"},
    {Msg::no_such_session, "no_such_session", "没有这个登录，可能已退出，请刷新页面"},
    {Msg::no_such_shift, "no_such_shift", "班次不存在，可能已被删除，请刷新页面"},
    {Msg::no_such_device, "no_such_device", "没有这个设备，请刷新页面后重新选择"},
    {Msg::no_such_camera, "no_such_camera", "没有这个摄像头，请刷新页面后重新选择"},
    {Msg::no_such_door_screen, "no_such_door_screen", "没有这个门口屏，或已停用"},
    {Msg::no_speech, "no_speech", "这条提示没有语音"},
    {Msg::media_expired, "media_expired", "图片不存在或已过保留期"},
    {Msg::page_not_found, "page_not_found", "页面不存在，请从首页进入"},
    {Msg::refused, "refused", "无法完成，请检查后再试"},
    {Msg::alarm_refused, "alarm_refused", "报警无法这样处理，请刷新页面"},
    {Msg::meal_refused, "meal_refused", "不能登记用餐"},
    {Msg::elder_refused, "elder_refused", "长者资料无法保存，请检查后再试"},
    {Msg::checkin_refused, "checkin_refused", "不能签到"},
    {Msg::duty_refused, "duty_refused", "无法排班，请检查后再试"},
    {Msg::no_door, "no_door", "本站未配置门口设备"},
    {Msg::faces_off, "faces_off", "本站未启用人脸识别"},
    {Msg::meals_off, "meals_off", "本站未开展助餐"},
    {Msg::live_view_off, "live_view_off", "实时画面未启用"},
    {Msg::live_view_full, "live_view_full", "实时画面连接数已满，请关闭其他实时画面后再试"},
    {Msg::camera_private, "camera_private", "这个摄像头位于隐私区域，不提供实时画面"},
    {Msg::camera_no_picture, "camera_no_picture", "摄像头暂无画面，请稍后再试"},
    {Msg::too_many_live_clients, "too_many_live_clients", "实时连接过多，请关闭其他页面后再试"},
    {Msg::busy, "busy", "系统繁忙，请稍后再试"},
    {Msg::db_busy, "db_busy", "数据库繁忙，请稍后再试"},
    {Msg::internal_error, "internal_error", "服务器内部错误，已记录日志，请稍后再试"},
};

const Entry& entry(Msg m) {
    for (auto& e : kCatalogue)
        if (e.msg == m) return e;
    return kCatalogue[0];  // unreachable: every Msg is in the table (tested)
}

bool letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

}  // namespace

const char* code_of(Msg m) { return entry(m).code; }
const char* text_of(Msg m) { return entry(m).text; }

const std::vector<Msg>& all_messages() {
    static const std::vector<Msg> all = [] {
        std::vector<Msg> v;
        for (auto& e : kCatalogue) v.push_back(e.msg);
        return v;
    }();
    return all;
}

bool latin_free(const std::string& text) {
    // What staff read as it is: an ID card, the file kinds they pick and save as (CSV, Excel, .xlsx,
    // JPEG, PNG, an iPhone's HEIC; UTF-8 as in Excel's "CSV UTF-8"), sizes (KB, MB).
    static const std::array<const char*, 10> allowed = {"ID",  "CSV",  "Excel", "xlsx", "JPEG",
                                                        "PNG", "HEIC", "UTF",   "KB",   "MB"};
    size_t i = 0;
    while (i < text.size()) {
        if (!letter(text[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < text.size() && letter(text[j])) ++j;
        std::string word = text.substr(i, j - i);
        if (word.size() >= 2 && std::find_if(allowed.begin(), allowed.end(),
                                             [&](const char* a) { return word == a; }) == allowed.end())
            return false;
        i = j;
    }
    return true;
}

}  // namespace caregate::api
