// Reading a series from CSV: headers, quotes, missing values filled or dropped, and every kind
// of bad file refused with the line and column named.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "forecast/series.hpp"
#include "support/error_of.hpp"

using namespace tapegrad;
using namespace tapegrad::forecast;
using testsupport::error_of;

BOOST_AUTO_TEST_SUITE(forecast_series)

BOOST_AUTO_TEST_CASE(reads_a_column_by_name_or_index) {
  const std::string csv = "date,co2,other\n19580329,316.1,a\n19580405,317.3,b\n19580412,-2.5e1,c\n";
  const SeriesData byname = read_csv_series(csv, "co2", "co2.csv");
  BOOST_TEST(byname.column == "co2");
  BOOST_TEST(byname.values == std::vector<double>({316.1, 317.3, -25.0}),
             boost::test_tools::per_element());
  BOOST_TEST(byname.labels == std::vector<std::string>({"19580329", "19580405", "19580412"}),
             boost::test_tools::per_element());
  BOOST_TEST(byname.filled == 0u);
  BOOST_TEST(byname.dropped == 0u);
  const SeriesData byindex = read_csv_series(csv, "1", "co2.csv");
  BOOST_TEST(byindex.column == "co2");
  BOOST_TEST(byindex.values == byname.values, boost::test_tools::per_element());
  // The first column itself: its labels are the line numbers.
  const SeriesData first = read_csv_series(csv, "date", "co2.csv");
  BOOST_TEST(first.values.front() == 19580329.0);
  BOOST_TEST(first.labels.front() == "2");
}

BOOST_AUTO_TEST_CASE(quotes_a_byte_order_mark_crlf_and_blank_lines) {
  const std::string csv =
      "\xEF\xBB\xBF\"YEAR\",\"SUN, ACTIVITY\"\r\n\r\n1700,5\r\n\"1701\",\"11\"\r\n   \r\n1702,16";
  const SeriesData s = read_csv_series(csv, "SUN, ACTIVITY", "sun.csv");
  BOOST_TEST(s.values == std::vector<double>({5, 11, 16}), boost::test_tools::per_element());
  BOOST_TEST(s.labels == std::vector<std::string>({"1700", "1701", "1702"}),
             boost::test_tools::per_element());
  const SeriesData q = read_csv_series("name,value\n\"say \"\"hi\"\"\",3\n", "value", "q.csv");
  BOOST_TEST(q.labels.front() == "say \"hi\"");
}

BOOST_AUTO_TEST_CASE(missing_values_inside_are_interpolated_and_at_the_ends_dropped) {
  const std::string csv = "t,v\n1,\n2,NA\n3,10\n4,\n5,nan\n6,16\n7,.\n8,20\n9,null\n10,\n";
  const SeriesData s = read_csv_series(csv, "v", "gaps.csv");
  // 10, then two filled on the line to 16, then 16, one filled halfway to 20, then 20.
  BOOST_TEST(s.values == std::vector<double>({10, 12, 14, 16, 18, 20}),
             boost::test_tools::per_element());
  BOOST_TEST(s.labels == std::vector<std::string>({"3", "4", "5", "6", "7", "8"}),
             boost::test_tools::per_element());
  BOOST_TEST(s.filled == 3u);
  BOOST_TEST(s.dropped == 4u);
}

BOOST_AUTO_TEST_CASE(a_gap_between_the_largest_values_of_opposite_sign_is_filled_finite) {
  // Found by fuzz_csv: the fill between -1e308 and 1e308 was -1e308 + 0.5 * inf.
  const SeriesData s = read_csv_series("t,v\n1,-1e308\n2,\n3,1e308\n4,\n5,1.5e308\n", "v", "x.csv");
  BOOST_TEST(s.values == std::vector<double>({-1e308, 0, 1e308, 1.25e308, 1.5e308}),
             boost::test_tools::per_element());
  BOOST_TEST(s.filled == 2u);
}

BOOST_AUTO_TEST_CASE(bad_files_say_where_and_what) {
  BOOST_TEST(error_of([] { read_csv_series("", "v", "a.csv"); }) ==
             "'a.csv' is empty: expected a header line and rows");
  BOOST_TEST(error_of([] { read_csv_series("\n  \n", "v", "a.csv"); }) ==
             "'a.csv' is empty: expected a header line and rows");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n", "v", "a.csv"); }) ==
             "'a.csv' has a header but no rows of values");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,2\n", "price", "a.csv"); }) ==
             "'a.csv' has no column 'price': its columns are 't', 'v' (a name, or an index from 0 "
             "to 1)");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,2\n", "2", "a.csv"); }) ==
             "'a.csv' has no column '2': its columns are 't', 'v' (a name, or an index from 0 to "
             "1)");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,2\n3\n", "v", "a.csv"); }) ==
             "'a.csv' line 3: expected at least 2 fields (column 'v' is field 2), got 1");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,2\n2,abc\n", "v", "a.csv"); }) ==
             "'a.csv' line 3, column 'v': expected a number, or an empty field (or NA) for a "
             "missing value, got 'abc'");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,inf\n", "v", "a.csv"); }) ==
             "'a.csv' line 2, column 'v': expected a number, or an empty field (or NA) for a "
             "missing value, got 'inf'");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,0x10\n", "v", "a.csv"); }) ==
             "'a.csv' line 2, column 'v': expected a number, or an empty field (or NA) for a "
             "missing value, got '0x10'");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,\"2\n", "v", "a.csv"); }) ==
             "'a.csv' line 2: a quoted field is not closed (expected a closing '\"')");
  BOOST_TEST(error_of([] { read_csv_series("t,v\n1,\n2,NA\n", "v", "a.csv"); }) ==
             "column 'v' of 'a.csv' holds no values (all 2 are missing)");
}

BOOST_AUTO_TEST_SUITE_END()
