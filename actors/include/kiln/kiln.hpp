#pragma once
// Everything a user needs to define jobs and get the CLI: include this one header.

#include <kiln/exceptions.hpp>
#include <kiln/item.hpp>
#include <kiln/job.hpp>
#include <kiln/job_step.hpp>
#include <kiln/job_parameters.hpp>
#include <kiln/jobs/command_tasklet.hpp>
#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/http_tasklet.hpp>
#include <kiln/jobs/jsonl.hpp>
#include <kiln/main.hpp>
#include <kiln/partition.hpp>
#include <kiln/split.hpp>
#include <kiln/step.hpp>
