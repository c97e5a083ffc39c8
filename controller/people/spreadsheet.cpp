#include "controller/people/spreadsheet.hpp"

#include <iconv.h>
#include <libxml/xmlreader.h>
#include <unistd.h>
#include <xlsxwriter.h>
#include <zip.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "controller/core/utf8.hpp"

namespace caregate::sheet {

using nlohmann::json;

namespace {

std::string mb(size_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MB"; }

// GB18030 (a superset of GBK and GB2312) to UTF-8, or nullopt when it is not that either.
std::optional<std::string> from_gb18030(const std::string& in) {
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
    std::string out(in.size() * 2 + 16, '\0');
    char* src = const_cast<char*>(in.data());
    size_t src_left = in.size(), dst_left = out.size();
    char* dst = out.data();
    size_t r = iconv(cd, &src, &src_left, &dst, &dst_left);
    iconv_close(cd);
    if (r == static_cast<size_t>(-1) || src_left != 0) return std::nullopt;
    out.resize(out.size() - dst_left);
    return out;
}

// Adds a cell to the table at (row, col), both 0-based, within the limits.
void put(Table& t, size_t row, size_t col, std::string v, const Limits& limits) {
    if (col >= limits.max_columns) return;
    if (v.size() > limits.max_cell_bytes) {
        v.resize(limits.max_cell_bytes);
        while (!v.empty() && (static_cast<unsigned char>(v.back()) & 0xC0) == 0x80) v.pop_back();
        if (!v.empty() && static_cast<unsigned char>(v.back()) >= 0xC0) v.pop_back();
    }
    if (t.size() <= row) t.resize(row + 1);
    if (t[row].size() <= col) t[row].resize(col + 1);
    t[row][col] = std::move(v);
}

void too_many_rows(const Limits& limits) {
    throw SheetError("文件超过 " + std::to_string(limits.max_rows) + " 行，请分成几个文件分别导入");
}

}  // namespace

Table read_csv(const std::string& raw, const Limits& limits) {
    if (raw.size() > limits.max_file_bytes) throw SheetError("文件过大：最多 " + mb(limits.max_file_bytes));
    std::string text = raw;
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
    if (!valid_utf8(text)) {
        auto converted = from_gb18030(text);
        if (!converted)
            throw SheetError("文件编码无法识别：请在 Excel 中另存为“CSV UTF-8”或 .xlsx 后重新上传");
        text = *converted;
    }
    Table t;
    size_t row = 0, col = 0;
    std::string cell;
    bool quoted = false, any = false;
    auto end_cell = [&] {
        put(t, row, col, cell, limits);
        cell.clear();
        ++col;
    };
    auto end_row = [&] {
        end_cell();
        ++row;
        col = 0;
        any = false;
        if (row > limits.max_rows + 1) too_many_rows(limits);
    };
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                cell += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cell += c;
            }
            continue;
        }
        if (c == '"' && cell.empty()) {
            quoted = any = true;
        } else if (c == ',') {
            end_cell();
            any = true;
        } else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            end_row();
        } else {
            cell += c;
            any = true;
        }
        if (cell.size() > limits.max_cell_bytes * 2)
            throw SheetError("第 " + std::to_string(row + 1) + " 行有一格内容过长");
    }
    if (quoted) throw SheetError("文件末尾有未闭合的引号，请用 Excel 重新另存为 CSV");
    if (any || !cell.empty()) end_row();
    return t;
}

namespace {

struct ZipCloser {
    void operator()(zip_t* z) const { zip_discard(z); }
};

// One entry of the archive, read to at most `budget` bytes (the archive's own size claims are not
// trusted: a zip bomb stops at the budget).
std::string read_entry(zip_t* z, const std::string& name, size_t& budget) {
    zip_file_t* f = zip_fopen(z, name.c_str(), 0);
    if (!f)
        throw SheetError("不是有效的 Excel 文件（缺少 " + name + "），请用 Excel 另存为 .xlsx 后重新上传");
    std::string out;
    char buf[64 * 1024];
    for (;;) {
        zip_int64_t n = zip_fread(f, buf, sizeof buf);
        if (n < 0) {
            zip_fclose(f);
            throw SheetError("Excel 文件已损坏，无法读取，请重新保存后上传");
        }
        if (n == 0) break;
        if (size_t(n) > budget) {
            zip_fclose(f);
            throw SheetError("Excel 文件解压后过大（超过 20 MB），请删去无关的工作表和格式后重新上传");
        }
        budget -= size_t(n);
        out.append(buf, size_t(n));
    }
    zip_fclose(f);
    return out;
}

// The workbook's XML parts, refused when they carry a DTD (no entity of any kind is expanded) or are
// not UTF-8.
struct Reader {
    xmlTextReaderPtr r = nullptr;
    explicit Reader(const std::string& xml) {
        std::string head = xml.substr(0, 4);
        if (head.size() >= 2 &&
            ((head[0] == '\xFE' && head[1] == '\xFF') || (head[0] == '\xFF' && head[1] == '\xFE')))
            throw SheetError("Excel 文件的编码不受支持，请用 Excel 另存为 .xlsx 后重新上传");
        if (xml.find("<!DOCTYPE") != std::string::npos || xml.find("<!ENTITY") != std::string::npos)
            throw SheetError("Excel 文件含有不允许的内容，请用 Excel 另存为 .xlsx 后重新上传");
        if (xml.size() > size_t(INT32_MAX)) throw SheetError("Excel 文件过大");
        r = xmlReaderForMemory(xml.data(), int(xml.size()), nullptr, "UTF-8",
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!r) throw SheetError("Excel 文件无法读取，请重新保存后上传");
    }
    ~Reader() { xmlFreeTextReader(r); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    // 1: a node, 0: the end; a malformed document is refused.
    bool next() {
        int rc = xmlTextReaderRead(r);
        if (rc < 0) throw SheetError("Excel 文件内容有误，无法读取，请用 Excel 重新保存后上传");
        return rc == 1;
    }
    int type() { return xmlTextReaderNodeType(r); }
    std::string name() {
        const xmlChar* n = xmlTextReaderConstLocalName(r);
        return n ? reinterpret_cast<const char*>(n) : "";
    }
    std::string value() {
        const xmlChar* v = xmlTextReaderConstValue(r);
        return v ? reinterpret_cast<const char*>(v) : "";
    }
    bool empty() { return xmlTextReaderIsEmptyElement(r) == 1; }
    std::string attr(const char* local) {
        // Attributes by local name, whatever their prefix (r:id).
        std::string out;
        if (xmlTextReaderMoveToFirstAttribute(r) == 1) {
            do {
                const xmlChar* n = xmlTextReaderConstLocalName(r);
                if (n && std::strcmp(reinterpret_cast<const char*>(n), local) == 0) {
                    out = value();
                    break;
                }
            } while (xmlTextReaderMoveToNextAttribute(r) == 1);
            xmlTextReaderMoveToElement(r);
        }
        return out;
    }
    bool text() {
        int t = type();
        return t == XML_READER_TYPE_TEXT || t == XML_READER_TYPE_CDATA ||
               t == XML_READER_TYPE_SIGNIFICANT_WHITESPACE || t == XML_READER_TYPE_WHITESPACE;
    }
};

// "xl/worksheets/sheet1.xml" of the workbook's first sheet.
std::string first_sheet_path(const std::string& workbook, const std::string& rels) {
    std::string rid;
    {
        Reader w(workbook);
        while (w.next())
            if (w.type() == XML_READER_TYPE_ELEMENT && w.name() == "sheet") {
                rid = w.attr("id");
                break;
            }
    }
    if (rid.empty()) throw SheetError("Excel 文件中没有工作表");
    std::string target;
    {
        Reader r(rels);
        while (r.next())
            if (r.type() == XML_READER_TYPE_ELEMENT && r.name() == "Relationship" && r.attr("Id") == rid) {
                target = r.attr("Target");
                break;
            }
    }
    if (target.empty() || target.find("..") != std::string::npos)
        throw SheetError("Excel 文件中找不到第一个工作表");
    return target[0] == '/' ? target.substr(1) : "xl/" + target;
}

std::vector<std::string> shared_strings(const std::string& xml, const Limits& limits) {
    std::vector<std::string> out;
    Reader r(xml);
    bool in_si = false, in_t = false;
    int phonetic = 0;
    std::string cur;
    while (r.next()) {
        int type = r.type();
        if (type == XML_READER_TYPE_ELEMENT) {
            std::string n = r.name();
            if (n == "si") {
                cur.clear();
                in_si = true;
                if (r.empty()) {
                    out.push_back("");
                    in_si = false;
                }
            } else if (n == "rPh" && !r.empty()) {
                ++phonetic;
            } else if (n == "t" && !r.empty()) {
                in_t = true;
            }
        } else if (type == XML_READER_TYPE_END_ELEMENT) {
            std::string n = r.name();
            if (n == "si" && in_si) {
                if (cur.size() > limits.max_cell_bytes) cur.resize(limits.max_cell_bytes);
                out.push_back(cur);
                in_si = false;
                if (out.size() > 50 * limits.max_rows)
                    throw SheetError("Excel 文件中的文字过多，请删去无关内容后重新上传");
            } else if (n == "rPh") {
                --phonetic;
            } else if (n == "t") {
                in_t = false;
            }
        } else if (in_si && in_t && phonetic == 0 && r.text() && cur.size() <= limits.max_cell_bytes) {
            cur += r.value();
        }
    }
    return out;
}

// "BC12" → column 54 (0-based 54 - 1); 0 when there are no letters.
size_t column_of(const std::string& ref) {
    size_t col = 0;
    for (char c : ref) {
        if (c >= 'A' && c <= 'Z')
            col = col * 26 + size_t(c - 'A' + 1);
        else
            break;
        if (col > 100000) break;
    }
    return col;
}

}  // namespace

Table read_xlsx(const std::string& bytes, const Limits& limits) {
    if (bytes.size() > limits.max_file_bytes) throw SheetError("文件过大：最多 " + mb(limits.max_file_bytes));
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &zerr);
    if (!src) throw SheetError("Excel 文件无法读取");
    std::unique_ptr<zip_t, ZipCloser> z(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr));
    zip_error_fini(&zerr);
    if (!z) {
        zip_source_free(src);
        throw SheetError("不是有效的 Excel 文件（.xlsx），请用 Excel 另存为 .xlsx 或 CSV 后重新上传");
    }
    // What the archive says of itself first: entries and their sizes together.
    zip_int64_t entries = zip_get_num_entries(z.get(), 0);
    if (entries < 0 || entries > 2000) throw SheetError("Excel 文件结构异常（条目过多），请重新保存后上传");
    uint64_t claimed = 0;
    for (zip_int64_t i = 0; i < entries; ++i) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z.get(), zip_uint64_t(i), 0, &st) != 0) throw SheetError("Excel 文件已损坏");
        if (st.valid & ZIP_STAT_SIZE) claimed += st.size;
        if (st.valid & ZIP_STAT_ENCRYPTION_METHOD && st.encryption_method != ZIP_EM_NONE)
            throw SheetError("Excel 文件有密码保护，请去掉密码后重新上传");
    }
    if (claimed > limits.max_uncompressed_bytes)
        throw SheetError("Excel 文件解压后过大（超过 " + mb(limits.max_uncompressed_bytes) +
                         "），请删去无关的工作表和格式后重新上传");
    size_t budget = limits.max_uncompressed_bytes;
    std::string sheet_path = first_sheet_path(read_entry(z.get(), "xl/workbook.xml", budget),
                                              read_entry(z.get(), "xl/_rels/workbook.xml.rels", budget));
    std::vector<std::string> strings;
    if (zip_name_locate(z.get(), "xl/sharedStrings.xml", 0) >= 0)
        strings = shared_strings(read_entry(z.get(), "xl/sharedStrings.xml", budget), limits);
    std::string xml = read_entry(z.get(), sheet_path, budget);

    Table t;
    Reader r(xml);
    size_t row = 0, col = 0;
    std::string type, value;
    bool in_cell = false, in_v = false, in_is_t = false;
    int phonetic = 0;
    while (r.next()) {
        int nt = r.type();
        if (nt == XML_READER_TYPE_ELEMENT) {
            std::string n = r.name();
            if (n == "row") {
                std::string ref = r.attr("r");
                size_t next = ref.empty() ? row + 1 : size_t(std::strtoull(ref.c_str(), nullptr, 10));
                if (next == 0 || next > limits.max_rows + 1) too_many_rows(limits);
                row = next;
                col = 0;
            } else if (n == "c") {
                std::string ref = r.attr("r");
                size_t c = column_of(ref);
                col = c ? c : col + 1;
                type = r.attr("t");
                value.clear();
                in_cell = !r.empty();
            } else if (in_cell && n == "v" && !r.empty()) {
                in_v = true;
            } else if (in_cell && n == "rPh" && !r.empty()) {
                ++phonetic;
            } else if (in_cell && n == "t" && !r.empty()) {
                in_is_t = true;
            }
        } else if (nt == XML_READER_TYPE_END_ELEMENT) {
            std::string n = r.name();
            if (n == "v") {
                in_v = false;
            } else if (n == "t") {
                in_is_t = false;
            } else if (n == "rPh") {
                --phonetic;
            } else if (n == "c" && in_cell) {
                in_cell = false;
                if (row == 0) row = 1;
                std::string cell;
                if (type == "s") {
                    char* end = nullptr;
                    unsigned long long i = std::strtoull(value.c_str(), &end, 10);
                    if (value.empty() || *end || i >= strings.size())
                        throw SheetError("Excel 文件内容有误（文字索引越界）");
                    cell = strings[i];
                } else if (type == "b") {
                    cell = value == "1" ? "是" : "否";
                } else {
                    cell = value;  // inlineStr, str (a formula's text), n (a number as written), e (an error)
                }
                if (col >= 1 && !cell.empty()) put(t, row - 1, col - 1, cell, limits);
            }
        } else if (r.text() && value.size() <= limits.max_cell_bytes) {
            if (in_v || (in_is_t && phonetic == 0 && type == "inlineStr")) value += r.value();
        }
    }
    return t;
}

Table read_table(const std::string& bytes, const Limits& limits) {
    if (bytes.size() > limits.max_file_bytes) throw SheetError("文件过大：最多 " + mb(limits.max_file_bytes));
    if (bytes.compare(0, 4, "PK\x03\x04") == 0) return read_xlsx(bytes, limits);
    if (bytes.compare(0, 4, "\xD0\xCF\x11\xE0") == 0)
        throw SheetError("不支持旧版 Excel 文件（97-2003 格式），请在 Excel 中另存为 .xlsx 后重新上传");
    return read_csv(bytes, limits);
}

std::string write_xlsx(const std::string& sheet_name, const std::vector<Column>& columns,
                       const std::vector<std::vector<json>>& rows) {
    namespace fs = std::filesystem;
    std::string dir = fs::temp_directory_path().string();
    std::string path = dir + "/caregate-export-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0)
        throw std::runtime_error("cannot create a temporary file in " + dir + ": " + std::strerror(errno));
    ::close(fd);
    struct Remove {
        std::string p;
        ~Remove() { ::unlink(p.c_str()); }
    } remove{path};
    lxw_workbook_options opt{};
    opt.constant_memory = LXW_FALSE;
    opt.tmpdir = dir.data();
    opt.use_zip64 = LXW_FALSE;
    lxw_workbook* wb = workbook_new_opt(path.c_str(), &opt);
    if (!wb) throw std::runtime_error("libxlsxwriter could not create " + path);
    // Excel's rules for a sheet name: at most 31 characters, none of []:*?/\.
    std::string name;
    size_t chars = 0;
    for (size_t i = 0; i < sheet_name.size() && chars < 31;) {
        unsigned char c = sheet_name[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        std::string ch = sheet_name.substr(i, n);
        if (ch.find_first_of("[]:*?/\\") == std::string::npos) name += ch, ++chars;
        i += n;
    }
    lxw_worksheet* ws = workbook_add_worksheet(wb, name.empty() ? "Sheet1" : name.c_str());
    lxw_format* head = workbook_add_format(wb);
    format_set_bold(head);
    format_set_bg_color(head, 0xDDEBF7);
    format_set_border(head, LXW_BORDER_THIN);
    lxw_format* text = workbook_add_format(wb);
    format_set_num_format(text, "@");  // 身份证号 and phone numbers stay text when edited in Excel
    for (size_t c = 0; c < columns.size(); ++c) {
        worksheet_set_column(ws, lxw_col_t(c), lxw_col_t(c), columns[c].width, text);
        worksheet_write_string(ws, 0, lxw_col_t(c), columns[c].header.c_str(), head);
    }
    for (size_t r = 0; r < rows.size(); ++r)
        for (size_t c = 0; c < rows[r].size() && c < columns.size(); ++c) {
            const json& v = rows[r][c];
            auto row = lxw_row_t(r + 1);
            auto col = lxw_col_t(c);
            if (v.is_number()) {
                worksheet_write_number(ws, row, col, v.get<double>(), nullptr);
            } else if (v.is_boolean()) {
                worksheet_write_string(ws, row, col, v.get<bool>() ? "是" : "否", nullptr);
            } else if (v.is_string()) {
                std::string s = v.get<std::string>();
                if (s.size() > 32000) s.resize(32000);
                if (!s.empty()) worksheet_write_string(ws, row, col, s.c_str(), nullptr);
            }
        }
    worksheet_freeze_panes(ws, 1, 0);
    if (!columns.empty())
        worksheet_autofilter(ws, 0, 0, lxw_row_t(rows.size()), lxw_col_t(columns.size() - 1));
    lxw_error err = workbook_close(wb);
    if (err != LXW_NO_ERROR) throw std::runtime_error(std::string("libxlsxwriter: ") + lxw_strerror(err));
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string content_disposition(const std::string& utf8_name, const std::string& ascii_fallback) {
    std::string enc;
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : utf8_name) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            enc += char(c);
        } else {
            enc += '%';
            enc += hex[c >> 4];
            enc += hex[c & 15];
        }
    }
    std::string fallback;
    for (char c : ascii_fallback)
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') fallback += c;
    return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + enc;
}

}  // namespace caregate::sheet
