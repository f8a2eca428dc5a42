/** The weather example's data: an in-memory table shared by the express and hono versions. */
export interface Conditions {
  city: string;
  country: string;
  temperatureC: number;
  sky: "clear" | "cloudy" | "rain" | "snow";
}

const CITIES: Conditions[] = [
  { city: "London", country: "GB", temperatureC: 11, sky: "rain" },
  { city: "Paris", country: "FR", temperatureC: 14, sky: "cloudy" },
  { city: "Tokyo", country: "JP", temperatureC: 19, sky: "clear" },
  { city: "Zürich", country: "CH", temperatureC: 6, sky: "snow" },
];

/** Looks a city up by name, case-insensitively. */
export function findCity(name: string): Conditions | undefined {
  const wanted = name.trim().toLowerCase();
  return CITIES.find((c) => c.city.toLowerCase() === wanted);
}

/** Every city's conditions. */
export function allCities(): Conditions[] {
  return CITIES;
}

/** A weather report posted by a user: validated, then echoed with an id. */
export interface Report {
  city: string;
  sky: Conditions["sky"];
}

/** Validates a report body; returns an error message or the report. */
export function parseReport(body: unknown): Report | string {
  if (typeof body !== "object" || body === null) return "body must be a JSON object";
  const { city, sky } = body as Record<string, unknown>;
  if (typeof city !== "string" || !findCity(city)) return "city must be a known city";
  if (sky !== "clear" && sky !== "cloudy" && sky !== "rain" && sky !== "snow") {
    return "sky must be one of clear, cloudy, rain, snow";
  }
  return { city, sky };
}
