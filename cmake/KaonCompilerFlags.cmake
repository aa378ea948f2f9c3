# Warnings, CPU tuning and sanitizers, applied through one interface target so that only
# Kaon's own code (not the installed package's consumers) gets them.
add_library(kaon_build_flags INTERFACE)
target_compile_options(kaon_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers>)
if(KAON_NATIVE)
  target_compile_options(kaon_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()
if(KAON_SANITIZE)
  string(REPLACE "," ";" _kaon_sanitizers "${KAON_SANITIZE}")
  foreach(s IN LISTS _kaon_sanitizers)
    target_compile_options(kaon_build_flags INTERFACE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${s} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
    target_link_options(kaon_build_flags INTERFACE -fsanitize=${s})
  endforeach()
endif()
