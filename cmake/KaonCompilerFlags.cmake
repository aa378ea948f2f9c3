# Warnings, CPU tuning and sanitizers, applied through one interface target so that only
# Kaon's own code (not the installed package's consumers) gets them.
add_library(kaon_build_flags INTERFACE)
target_compile_options(kaon_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers>)
if(KAON_NATIVE)
  target_compile_options(kaon_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
endif()
# GCC 12 reports -Wmaybe-uninitialized inside its own avx512fintrin.h when Eigen's AVX-512
# packets are inlined (the _mm512_undefined_* idiom; GCC bug 105593, fixed in GCC 13). The
# warning points into the compiler's header, never at Kaon code, so it is silenced only there.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(kaon_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
endif()
if(KAON_SANITIZE)
  string(REPLACE "," ";" _kaon_sanitizers "${KAON_SANITIZE}")
  foreach(s IN LISTS _kaon_sanitizers)
    target_compile_options(kaon_build_flags INTERFACE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${s} -fno-omit-frame-pointer -fno-sanitize-recover=all>)
    target_link_options(kaon_build_flags INTERFACE -fsanitize=${s})
  endforeach()
endif()
