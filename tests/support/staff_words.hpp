// What staff read must be Chinese (issue #19): the Latin words of a text, less the few that Chinese
// staff screens use as they are.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace caregate::testing {

// Words staff see as they are, kept short on purpose:
//   ID            身份证 (ID card), as printed on the card;
//   CSV, Excel    the file kinds of the roster import and the exports;
//   xlsx          the extension Excel saves as (另存为 .xlsx);
//   JPEG, PNG     the photo kinds of face enrollment;
//   HEIC          the iPhone's photo format, as its settings and file details name it;
//   UTF           Excel's own save-as choice "CSV UTF-8";
//   KB, MB        sizes of an upload.
// A single letter (a card number's, 2026-11 style dates aside) is not a word.
inline const std::set<std::string> kAllowedLatin = {"ID",  "CSV",  "Excel", "xlsx", "JPEG",
                                                    "PNG", "HEIC", "UTF",   "KB",   "MB"};

// The Latin words of a text that are not allowed ("" when none).
inline std::string latin_words(const std::string& text) {
    static const std::regex word("[A-Za-z]{2,}");
    std::string out;
    for (std::sregex_iterator it(text.begin(), text.end(), word), end; it != end; ++it)
        if (!kAllowedLatin.count(it->str())) out += (out.empty() ? "" : " ") + it->str();
    return out;
}

// A transport's failure as staff read it in the rescue record: said, and in Chinese (`reason` beside
// the technical `detail`: notify::PostResult, notify::ModemResult).
template <class Result>
void expect_staff_reason(const Result& r) {
    EXPECT_FALSE(r.reason.empty()) << "no reason for staff; detail: " << r.detail;
    EXPECT_EQ(latin_words(r.reason), "") << r.reason;
}

}  // namespace caregate::testing
