#pragma once
// Included first by every public header: the language level the API is written in.
//
// The API uses std::expected and std::move_only_function (C++23). GCC 12 reports -std=c++23 (c++2b) as
// 202100L, later compilers as 202302L; anything up to C++20 (202002L) gets a clear message instead of
// pages of errors about <expected>. pkg-config's Cflags and the CMake target both carry the flag.
#if !defined(__cplusplus) || __cplusplus <= 202002L
#error "quiver needs C++23 (compile with -std=c++23)"
#endif
