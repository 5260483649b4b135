#pragma once
// How the CLI writes sizes, rates and durations for people. Decimal units (1 MB = 1,000,000 bytes),
// as in "MB/s" of the bench report.

#include <chrono>
#include <cstdint>
#include <string>

namespace quiver::cli {

// "512 B", "1.5 KB", "12.3 MB", "4.00 GB"
std::string format_bytes(std::uint64_t bytes);
// format_bytes of the rounded rate, plus "/s"
std::string format_rate(double bytes_per_second);
// "0:07", "12:34", "1:02:03" (rounded to whole seconds)
std::string format_clock(std::chrono::duration<double> duration);
// Milliseconds with a precision suited to the size: "0.042", "1.27", "12.3", "153"
std::string format_ms(std::chrono::duration<double> duration);

}  // namespace quiver::cli
