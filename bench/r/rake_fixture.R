# R survey::rake weights for tests/data/rake (the reference analysis.weighting.rake must match to 1e-8).
# Usage: Rscript rake_fixture.R DIR   (reads DIR/data.csv, DIR/targets.json; writes DIR/r_weights.csv)
suppressPackageStartupMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
df <- read.csv(file.path(dir, "data.csv"))
# targets.json is a tiny fixed-shape file; read it without a JSON package.
txt <- paste(readLines(file.path(dir, "targets.json")), collapse = "")
grab <- function(name) {
  m <- regmatches(txt, regexpr(paste0('"', name, '": *\\[[^]]*\\]'), txt))
  as.numeric(strsplit(gsub('.*\\[|\\]', '', m), ",")[[1]])
}
df$district <- factor(df$district); df$age <- factor(df$age); df$sex <- factor(df$sex)
des <- svydesign(ids = ~1, weights = ~w0, data = df)
pop <- list(
  data.frame(district = factor(0:3), Freq = grab("district")),
  data.frame(age = factor(0:2), Freq = grab("age")),
  data.frame(sex = factor(0:1), Freq = grab("sex"))
)
r <- rake(des, list(~district, ~age, ~sex), pop, control = list(maxit = 100, epsilon = 1e-10))
out <- data.frame(weight = sprintf("%.17g", weights(r)))
write.csv(out, file.path(dir, "r_weights.csv"), row.names = FALSE, quote = FALSE)
cat("R", as.character(packageVersion("survey")), "weights written\n")
