// A user's own binary: one job, and the whole Kiln CLI (run, jobs, executions, show, abandon).
#include <kiln/kiln.hpp>

#include <cctype>

struct person {
  std::string name;
  std::string city;
};

kiln::job shout() {
  return kiln::job_builder("shout")
      .parameter(kiln::param("input").required().existing_file())
      .parameter(kiln::param("output").required())
      .step(kiln::chunk_step<person>("upper")
                .reader(kiln::flat_file_reader<person>("{input}", [](const kiln::csv_record& r) {
                  return person{std::string(r.get("name")), std::string(r.get("city"))};
                }))
                .processor([](person p) -> std::optional<person> {
                  if (p.city.empty()) return std::nullopt;  // filtered out, and counted
                  for (auto& c : p.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                  return p;
                })
                .writer(kiln::flat_file_writer<person>("{output}", [](const person& p, kiln::csv_line& line) {
                  line.add(p.name);
                  line.add(p.city);
                }))
                .commit_interval(500))
      .build();
}

int main(int argc, char** argv) {
  kiln::registry jobs;
  jobs.add(shout());
  return kiln::main(argc, argv, jobs);
}
