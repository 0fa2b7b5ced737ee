# Compiler flags shared by every target: warnings, -Werror on request, sanitizers on request.
set(HB_WARNING_FLAGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wvla -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  # snprintf is used to truncate safely; a truncated message is not a bug
  list(APPEND HB_WARNING_FLAGS -Wno-format-truncation)
endif()
if(HB_WERROR)
  list(APPEND HB_WARNING_FLAGS -Werror)
endif()
# _DEFAULT_SOURCE: POSIX 2008 plus realpath, M_PI and friends from glibc
add_compile_definitions(_DEFAULT_SOURCE)

if(HB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# hb_target_warnings(target): the project's warnings on one of its own targets.
function(hb_target_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${HB_WARNING_FLAGS}>)
endfunction()

# Fuzz builds instrument all code for coverage; the fuzz target itself links libFuzzer's main.
if(HB_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HB_FUZZ needs clang (configure with CC=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
