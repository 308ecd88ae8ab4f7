# Every dependency comes from Debian 12 packages (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS url)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(prometheus-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL 7.85 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(SIMDJSON REQUIRED IMPORTED_TARGET simdjson)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
# The daemon allocates with jemalloc: glibc's allocator took 13 % of its CPU under webhook load,
# much of it merging small free chunks before each large request body (docs/benchmarks.md,
# eighth section). Sanitizer builds keep the sanitizer's allocator.
if(ORDERBRIDGE_JEMALLOC AND NOT ORDERBRIDGE_SANITIZE)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()

if(ORDERBRIDGE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Asio and Beast are compiled once (src/http/asio_impl.cpp) instead of in every translation unit.
add_library(orderbridge_asio INTERFACE)
target_compile_definitions(orderbridge_asio INTERFACE BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
                                                      BOOST_ASIO_NO_DEPRECATED)
target_link_libraries(orderbridge_asio INTERFACE Boost::headers Threads::Threads)
