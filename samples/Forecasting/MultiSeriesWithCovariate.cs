namespace Samples.Forecasting;

public static class MultiSeriesWithCovariate
{
    public static void Example()
    {
    }
}
