#include "vmm/run_report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace vmrun {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      // Bytes, not characters: a path may not be UTF-8. Each non-ASCII
      // byte becomes its own code point so the text stays valid JSON.
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

template <class T, class F>
std::string array(const std::vector<T>& items, F&& item) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + item(items[i]);
  return out + "]";
}

}  // namespace

Result<void> write_run_report(const std::string& path, const RunReport& r,
                              const VmConfig& c) {
  // The user's --9p shares; vmrun's own module tree share is not one.
  std::vector<std::string> shares;
  for (const auto& share : c.shares) {
    if (!share.module_tree) shares.push_back(share.dir);
  }
  std::ostringstream j;
  j << "{\n"
    << "  \"exit_status\": " << r.exit_status << ",\n"
    << "  \"reason\": " << json_string(r.reason) << ",\n"
    << "  \"detail\": " << json_string(r.detail) << ",\n"
    << "  \"job_status\": " << (r.job_status ? std::to_string(*r.job_status) : "null") << ",\n"
    << "  \"wall_seconds\": " << number(r.wall_seconds) << ",\n"
    << "  \"boot_seconds\": " << (r.boot_seconds ? number(*r.boot_seconds) : "null") << ",\n"
    << "  \"kernel\": " << json_string(c.kernel) << ",\n"
    << "  \"initrd\": " << json_string(c.initrd) << ",\n"
    << "  \"mem_mib\": " << c.mem_mib << ",\n"
    << "  \"cpus\": " << c.cpus << ",\n"
    << "  \"disks\": " << array(c.disks, [](const DiskConfig& d) { return json_string(d.path); })
    << ",\n"
    << "  \"shares\": " << array(shares, [](const std::string& dir) { return json_string(dir); })
    << ",\n"
    << "  \"taps\": " << array(r.taps, [](const std::string& t) { return json_string(t); })
    << ",\n"
    << "  \"vfio\": "
    << array(c.vfio, [](const devices::vfio::PciAddress& a) { return json_string(a.to_string()); })
    << "\n}\n";
  const std::string text = j.str();
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error::from_errno("--result-json: cannot write " + tmp);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) < 0) {
    ::unlink(tmp.c_str());
    return Error::from_errno("--result-json: cannot write " + path);
  }
  return ok();
}

}  // namespace vmrun
