using Microsoft.ML.Recurrent.Model;

namespace Microsoft.ML.Recurrent.Serving;

/// <summary>
/// The text form of a model inside an ML.NET zip: the <see cref="RecurrentModelFormat"/> bytes as base64
/// (ASCII, so ML.NET's UTF-8 text storage keeps one byte per character).
/// </summary>
internal static class ModelPayload
{
    public static string Encode(RecurrentModel model) => Convert.ToBase64String(RecurrentModelFormat.Write(model));

    /// <summary>Decodes a payload; any defect gives <see cref="InvalidDataException"/>.</summary>
    public static RecurrentModel Decode(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
            throw new InvalidDataException(
                "The recurrent model payload is empty: the model text is missing from this ML.NET model (was the zip altered, or the model-key column overwritten?).");
        // base64 never decodes to more than 3/4 of its length: the buffer is bounded by text already in memory.
        var bytes = new byte[(int)Math.Min(int.MaxValue, (text.Length / 4L + 1) * 3)];
        if (!Convert.TryFromBase64Chars(text, bytes, out int written))
            throw new InvalidDataException($"The recurrent model payload is invalid: its {text.Length} characters are not valid base64.");
        return RecurrentModelFormat.Read(bytes.AsSpan(0, written));
    }
}
