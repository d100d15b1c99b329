# Finds Kiln's dependencies (all Debian packages; see scripts/install-deps.sh). Used by the build
# and, installed next to kilnConfig.cmake, by projects that find_package(kiln).
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(fmt)
find_dependency(spdlog)
find_dependency(CLI11)
find_dependency(RocksDB)
find_dependency(Boost 1.81 COMPONENTS json)
# /metrics: prometheus-cpp's core (metric types and the text format), no HTTP server of its own.
find_dependency(prometheus-cpp)
# Cron triggers: time zones from Howard Hinnant's date library reading the system tz database
# (/usr/share/zoneinfo, Debian tzdata). Debian's libhowardhinnant-date-dev builds libdate-tz with
# USE_OS_TZDB=1 and exports it as date::date-tz, which carries that define (and date.h's) to users.
find_dependency(date)
# REST server and client. Debian builds cpp-httplib as a library with OpenSSL, zlib and brotli
# support; its pkg-config file carries the matching defines, which must be the same everywhere.
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::KILN_HTTPLIB)
  pkg_check_modules(KILN_HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
endif()

# CAF 0.17 ships no CMake package in Debian: define imported targets by hand.
if(NOT TARGET kiln_caf::core)
  find_path(KILN_CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
  find_library(KILN_CAF_CORE caf_core REQUIRED)
  find_library(KILN_CAF_IO caf_io REQUIRED)
  add_library(kiln_caf::core UNKNOWN IMPORTED)
  set_target_properties(kiln_caf::core PROPERTIES IMPORTED_LOCATION ${KILN_CAF_CORE}
                        INTERFACE_INCLUDE_DIRECTORIES ${KILN_CAF_INCLUDE_DIR})
  add_library(kiln_caf::io UNKNOWN IMPORTED)
  set_target_properties(kiln_caf::io PROPERTIES IMPORTED_LOCATION ${KILN_CAF_IO}
                        INTERFACE_LINK_LIBRARIES kiln_caf::core)
endif()
