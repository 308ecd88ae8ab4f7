#include <array>
#include <string>
#include <string_view>

#include "orderbridge/woo/normalize.hpp"

namespace orderbridge::woo {
namespace {

struct Entity {
    std::string_view name;
    std::string_view utf8;
};

// The entities WordPress and WooCommerce write into names, meta and notes (wptexturize, esc_html,
// wc_price), plus the XML five.
constexpr std::array<Entity, 32> kEntities{{
    {"amp", "&"},
    {"lt", "<"},
    {"gt", ">"},
    {"quot", "\""},
    {"apos", "'"},
    {"nbsp", "\xC2\xA0"},
    {"ndash", "\xE2\x80\x93"},
    {"mdash", "\xE2\x80\x94"},
    {"times", "\xC3\x97"},
    {"hellip", "\xE2\x80\xA6"},
    {"lsquo", "\xE2\x80\x98"},
    {"rsquo", "\xE2\x80\x99"},
    {"ldquo", "\xE2\x80\x9C"},
    {"rdquo", "\xE2\x80\x9D"},
    {"sbquo", "\xE2\x80\x9A"},
    {"bdquo", "\xE2\x80\x9E"},
    {"euro", "\xE2\x82\xAC"},
    {"pound", "\xC2\xA3"},
    {"yen", "\xC2\xA5"},
    {"cent", "\xC2\xA2"},
    {"copy", "\xC2\xA9"},
    {"reg", "\xC2\xAE"},
    {"trade", "\xE2\x84\xA2"},
    {"deg", "\xC2\xB0"},
    {"plusmn", "\xC2\xB1"},
    {"frac12", "\xC2\xBD"},
    {"laquo", "\xC2\xAB"},
    {"raquo", "\xC2\xBB"},
    {"middot", "\xC2\xB7"},
    {"bull", "\xE2\x80\xA2"},
    {"prime", "\xE2\x80\xB2"},
    {"Prime", "\xE2\x80\xB3"},
}};

void AppendUtf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace

std::string DecodeHtmlEntities(std::string_view in) {
    if (in.find('&') == std::string_view::npos) return std::string(in);
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        if (in[i] != '&') {
            out.push_back(in[i++]);
            continue;
        }
        const std::size_t semi = in.find(';', i + 1);
        if (semi == std::string_view::npos || semi - i > 12) {
            out.push_back(in[i++]);
            continue;
        }
        const std::string_view name = in.substr(i + 1, semi - i - 1);
        bool done = false;
        if (!name.empty() && name[0] == '#') {
            unsigned long cp = 0;
            bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
            std::string_view digits = name.substr(hex ? 2 : 1);
            bool ok = !digits.empty();
            for (char c : digits) {
                int v;
                if (c >= '0' && c <= '9')
                    v = c - '0';
                else if (hex && c >= 'a' && c <= 'f')
                    v = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F')
                    v = c - 'A' + 10;
                else {
                    ok = false;
                    break;
                }
                cp = cp * (hex ? 16 : 10) + static_cast<unsigned long>(v);
                if (cp > 0x10FFFF) {
                    ok = false;
                    break;
                }
            }
            if (ok && cp != 0 && !(cp >= 0xD800 && cp <= 0xDFFF)) {
                AppendUtf8(out, cp);
                done = true;
            }
        } else {
            for (const auto& e : kEntities) {
                if (e.name == name) {
                    out.append(e.utf8);
                    done = true;
                    break;
                }
            }
        }
        if (done) {
            i = semi + 1;
        } else {
            out.push_back(in[i++]);
        }
    }
    return out;
}

}  // namespace orderbridge::woo
