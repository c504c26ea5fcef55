# Sanitizer build types: -DCMAKE_BUILD_TYPE=ASan, UBSan, or Sanitize (both).
# The test suite runs under them; the mount tests fail on any report the
# daemon writes to its stderr.
set(_san_common "-O1 -g -fno-omit-frame-pointer")
set(CMAKE_C_FLAGS_ASAN "${_san_common} -fsanitize=address"
	CACHE STRING "C flags for the ASan build type" FORCE)
set(CMAKE_C_FLAGS_UBSAN "${_san_common} -fsanitize=undefined -fno-sanitize-recover=undefined"
	CACHE STRING "C flags for the UBSan build type" FORCE)
set(CMAKE_C_FLAGS_SANITIZE "${_san_common} -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	CACHE STRING "C flags for the Sanitize (ASan+UBSan) build type" FORCE)
foreach(_t ASAN UBSAN SANITIZE)
	set(CMAKE_EXE_LINKER_FLAGS_${_t} "${CMAKE_C_FLAGS_${_t}}"
		CACHE STRING "Linker flags for the ${_t} build type" FORCE)
endforeach()
