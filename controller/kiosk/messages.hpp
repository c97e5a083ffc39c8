// The kiosk's message catalogue (issue #19): every refusal the API gives has a code (snake_case,
// for programs and tests) and one Chinese sentence (for staff: what went wrong and what to do).
// No config id or English word reaches a staff screen; a refusal with details of its own (a field,
// a name, a date) is a Chinese sentence from the domain code under one of these codes.
#pragma once

#include <string>
#include <vector>

namespace caregate::api {

enum class Msg {
    // Sessions, tokens and roles.
    not_logged_in,
    csrf_failed,
    admin_only,
    own_sessions_only,
    wrong_login,
    wrong_current_password,
    same_password,
    too_many_logins,
    too_many_pairings,
    pairing_code_invalid,
    door_not_paired,
    // The request itself.
    length_required,
    body_too_large,
    bad_json,
    bad_field,
    bad_path,
    bad_date,
    bad_month,
    bad_hours,
    bad_count,
    device_required,
    elder_or_card_required,
    active_required,
    phone_required,
    duty_staff_required,
    duty_weekday,
    duty_start,
    duty_end,
    duty_same_time,
    cannot_disable_self,
    // Things that are not (any more) there.
    not_found,
    no_such_elder,
    no_such_card,
    no_such_alarm,
    no_such_staff,
    no_such_session,
    no_such_shift,
    no_such_device,
    no_such_camera,
    no_such_door_screen,
    no_speech,
    media_expired,
    page_not_found,
    // Refused by the rules of the center.
    refused,
    alarm_refused,
    meal_refused,
    elder_refused,
    checkin_refused,
    duty_refused,
    // Not offered here, or not now.
    no_door,
    faces_off,
    meals_off,
    live_view_off,
    live_view_full,
    camera_private,
    camera_no_picture,
    too_many_live_clients,
    busy,
    db_busy,
    internal_error,
};

// "no_such_elder"
const char* code_of(Msg m);
// "没有这位长者，请刷新页面后重新选择"
const char* text_of(Msg m);
// Every message, for the tests of the catalogue.
const std::vector<Msg>& all_messages();

// No Latin word in the text a person reads: letters only in the few tokens staff know as they are
// (ID, CSV, Excel, JPEG, PNG, KB, MB, ...: see messages.cpp), single letters (a card number's) and
// digits aside.
bool latin_free(const std::string& text);

}  // namespace caregate::api
