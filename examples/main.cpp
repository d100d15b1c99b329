// The `kiln` binary: the Kiln library plus the example jobs.
#include "example_jobs.hpp"

#include <kiln/main.hpp>

int main(int argc, char** argv) {
  kiln::registry jobs;
  kiln::examples::register_all(jobs);
  return kiln::main(argc, argv, jobs);
}
