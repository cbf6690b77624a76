#pragma once
// Transparent huge pages for the large buffers that decode streams every step (the weights). With
// 4 KB pages a 2 GB sweep is half a million TLB misses, each a page walk that a core's few
// outstanding misses wait behind; with 2 MB pages the CPU kernels read the weights ~10 % faster
// (bench/README.md). Linux's default is "madvise": only regions asked for get huge pages.
#include <cstddef>

namespace pensieve::kernels {

// Asks for huge pages over the whole 2 MB pages inside [p, p + bytes), before they are first
// written (a page faulted in small stays small until khugepaged collapses it). A hint: does
// nothing where the OS has no such advice or refuses it.
void advise_huge_pages(void* p, std::size_t bytes);

}  // namespace pensieve::kernels
