// libFuzzer target: the roster import's spreadsheet reader (controller/people/spreadsheet.cpp), which reads
// .csv and .xlsx files uploaded by staff. First byte: 0..127 — the rest is the file as uploaded
// (CSV, or a zip the fuzzer mutates); 128..255 — the rest is split on 0xFF into workbook.xml, its
// rels, sharedStrings.xml and the worksheet, zipped here into a well-formed archive so the XML
// parsers are reached past the zip layer. Checks: only SheetError escapes; the limits hold.
#include <zip.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/people/spreadsheet.hpp"

namespace {

std::string zipped(const std::vector<std::string>& names, const std::vector<std::string>& parts) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* buf = zip_source_buffer_create(nullptr, 0, 0, &err);
    if (!buf) return {};
    zip_source_keep(buf);
    zip_t* z = zip_open_from_source(buf, ZIP_TRUNCATE, &err);
    if (!z) {
        zip_source_free(buf);
        return {};
    }
    for (size_t i = 0; i < names.size() && i < parts.size(); ++i) {
        zip_source_t* s = zip_source_buffer(z, parts[i].data(), parts[i].size(), 0);
        if (s && zip_file_add(z, names[i].c_str(), s, ZIP_FL_OVERWRITE) < 0) zip_source_free(s);
    }
    std::string out;
    if (zip_close(z) == 0 && zip_source_open(buf) == 0) {
        char chunk[4096];
        zip_int64_t n;
        while ((n = zip_source_read(buf, chunk, sizeof chunk)) > 0) out.append(chunk, size_t(n));
        zip_source_close(buf);
    } else {
        zip_discard(z);
    }
    zip_source_free(buf);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    caregate::sheet::Limits limits;
    limits.max_rows = 200;  // small limits: the checks are reached, runs stay fast
    limits.max_columns = 16;
    limits.max_cell_bytes = 256;
    limits.max_uncompressed_bytes = 1 << 20;
    std::string file;
    if (data[0] < 128) {
        file.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    } else {
        std::vector<std::string> parts(1);
        for (size_t i = 1; i < size; ++i) {
            if (data[i] == 0xFF)
                parts.emplace_back();
            else
                parts.back() += char(data[i]);
        }
        file = zipped({"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml",
                       "xl/worksheets/sheet1.xml"},
                      parts);
    }
    try {
        auto t = caregate::sheet::read_table(file, limits);
        if (t.size() > limits.max_rows + 1) abort();
        for (auto& row : t) {
            if (row.size() > limits.max_columns) abort();
            for (auto& cell : row)
                if (cell.size() > limits.max_cell_bytes * 4) abort();  // UTF-8 from GB18030 may grow
        }
    } catch (const caregate::sheet::SheetError&) {
    }
    return 0;
}
